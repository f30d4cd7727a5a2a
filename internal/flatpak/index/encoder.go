package index

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Encoder writes the document as it goes, for answers too large to hold: repositories
// must come in byte order of their names, and within one its images before its lists,
// each in byte order of its digest — the order Builder sorts into, so that both write the
// same document for the same images.
type Encoder struct {
	w        io.Writer
	buf      bytes.Buffer
	json     *json.Encoder
	repo     string
	inRepo   bool
	inLists  bool
	started  bool
	firstOf  bool // the next entry is the first of its array
	closed   bool
	registry string
	err      error
}

// NewEncoder starts the document of the registry at the URL registry on w. Unlike
// json.Marshal it leaves <, > and & unescaped: the document is never embedded in HTML,
// and AppStream labels are XML, which the escapes would make a third larger.
func NewEncoder(w io.Writer, registry string) *Encoder {
	e := &Encoder{w: w, registry: registry}
	e.json = json.NewEncoder(&e.buf)
	e.json.SetEscapeHTML(false)
	return e
}

// ErrOrder reports entries out of the order the Encoder requires.
var ErrOrder = errors.New("index entries out of order")

// raw is JSON written as is; every other part is marshalled.
type raw string

func (e *Encoder) write(parts ...any) {
	for _, p := range parts {
		if e.err != nil {
			return
		}
		switch p := p.(type) {
		case raw:
			_, e.err = io.WriteString(e.w, string(p))
		default:
			e.buf.Reset()
			if e.err = e.json.Encode(p); e.err == nil {
				_, e.err = e.w.Write(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")))
			}
		}
	}
}

// enter moves to repo, closing the previous repository; lists says which array the next
// entry goes in.
func (e *Encoder) enter(repo string, lists bool) error {
	if e.err != nil {
		return e.err
	}
	if e.closed {
		return fmt.Errorf("%w: the document is closed", ErrOrder)
	}
	if !e.started {
		e.write(raw(`{"Registry":`), e.registry, raw(`,"Results":[`))
		e.started = true
	}
	switch {
	case e.inRepo && repo == e.repo:
		if lists && !e.inLists {
			e.write(raw(`],"Lists":[`))
			e.inLists, e.firstOf = true, true
		} else if !lists && e.inLists {
			return fmt.Errorf("%w: an image of %s after its lists", ErrOrder, repo)
		}
		return e.err
	case e.inRepo && repo < e.repo:
		return fmt.Errorf("%w: repository %s after %s", ErrOrder, repo, e.repo)
	case e.inRepo:
		e.closeRepo()
		e.write(raw(","))
	}
	e.write(raw(`{"Name":`), repo, raw(`,"Images":[`))
	e.repo, e.inRepo, e.inLists, e.firstOf = repo, true, false, true
	if lists {
		e.write(raw(`],"Lists":[`))
		e.inLists = true
	}
	return e.err
}

func (e *Encoder) closeRepo() {
	if e.inLists {
		e.write(raw(`]}`))
	} else {
		e.write(raw(`],"Lists":[]}`))
	}
}

func (e *Encoder) sep() {
	if !e.firstOf {
		e.write(raw(","))
	}
	e.firstOf = false
}

// Image writes a tagged image of repo.
func (e *Encoder) Image(repo string, tags []string, im ListImage) error {
	if err := e.enter(repo, false); err != nil {
		return err
	}
	e.sep()
	e.write(Image{Tags: nonNil(tags), ListImage: im.normal()})
	return e.err
}

// List writes a tagged list of repo; its images must be in byte order of their digests.
// A list without images is left out, as Builder leaves it out.
func (e *Encoder) List(repo string, l List) error {
	if len(l.Images) == 0 {
		return e.err
	}
	if err := e.enter(repo, true); err != nil {
		return err
	}
	images := make([]ListImage, len(l.Images))
	for i, im := range l.Images {
		if i > 0 && im.Digest < images[i-1].Digest {
			return fmt.Errorf("%w: images of list %s", ErrOrder, l.Digest)
		}
		images[i] = im.normal()
	}
	l.Tags, l.Images = nonNil(l.Tags), images
	e.sep()
	e.write(l)
	return e.err
}

// Close ends the document.
func (e *Encoder) Close() error {
	if e.err != nil || e.closed {
		return e.err
	}
	if !e.started {
		e.write(raw(`{"Registry":`), e.registry, raw(`,"Results":[`))
	}
	if e.inRepo {
		e.closeRepo()
	}
	e.write(raw(`]}`))
	e.closed = true
	return e.err
}
