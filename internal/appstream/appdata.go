package appstream

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/metadata"
)

// Bounds on an AppStream label. build-bundle writes one component of a few KiB; these
// leave room for long descriptions and histories while keeping a hostile label cheap.
const (
	MaxAppDataSize = 512 << 10
	maxDepth       = 32
	maxTokens      = 100_000
	maxReleases    = 10

	maxShortText   = 256      // id, name, license, version
	maxSummary     = 1024     // summary
	maxURL         = 2048     // homepage
	maxDescription = 16 << 10 // the description, all paragraphs
	maxReleaseText = 4 << 10  // one release's notes
)

// ErrAppData reports an org.freedesktop.appstream.appdata label that cannot be used.
var ErrAppData = errors.New("invalid AppStream data")

// Component is what the web UI shows of an AppStream component. Texts are plain text in
// the untranslated language; markup of descriptions is reduced to paragraphs and "• "
// list items, so nothing from the image is ever rendered as HTML.
type Component struct {
	ID          string
	Name        string
	Summary     string
	Description string
	License     string
	Homepage    string
	Releases    []metadata.Release
}

// ParseAppData reads the component for the app id (its <id> is id or id.desktop; else
// the first) from AppStream XML as build-bundle writes it. Like flatpak, it requires the
// document's root to be one <components> element. Entities other than XML's five and
// character references are refused, and so are documents past the size, depth and
// token bounds.
func ParseAppData(doc, id string) (Component, error) {
	if len(doc) > MaxAppDataSize {
		return Component{}, fmt.Errorf("%w: larger than %d bytes", ErrAppData, MaxAppDataSize)
	}
	p := &parser{d: xml.NewDecoder(strings.NewReader(doc))}
	p.d.Strict = true // unknown entities are errors; no DTD is ever read
	comps, err := p.document()
	if err != nil {
		return Component{}, fmt.Errorf("%w: %w", ErrAppData, err)
	}
	if len(comps) == 0 {
		return Component{}, fmt.Errorf("%w: no <component>", ErrAppData)
	}
	for _, c := range comps {
		if c.ID == id || c.ID == id+".desktop" {
			return c, nil
		}
	}
	return comps[0], nil
}

type parser struct {
	d      *xml.Decoder
	tokens int
	depth  int
}

// next returns the next token within the bounds.
func (p *parser) next() (xml.Token, error) {
	p.tokens++
	if p.tokens > maxTokens {
		return nil, fmt.Errorf("more than %d XML tokens", maxTokens)
	}
	tok, err := p.d.Token()
	if err != nil {
		return nil, err
	}
	switch tok.(type) {
	case xml.StartElement:
		p.depth++
		if p.depth > maxDepth {
			return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
		}
	case xml.EndElement:
		p.depth--
	case xml.Directive:
		// A DOCTYPE could declare entities; the decoder would not expand them, but a
		// document that tries is not one build-bundle wrote.
		return nil, errors.New("XML directives (DOCTYPE) are not allowed")
	}
	return tok, nil
}

// document reads the root <components> element and what follows it.
func (p *parser) document() ([]Component, error) {
	var comps []Component
	root := false
	for {
		tok, err := p.next()
		if err == io.EOF {
			if !root {
				return nil, errors.New("no <components> root element")
			}
			return comps, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root || t.Name.Local != "components" {
				return nil, fmt.Errorf("the root must be one <components> element, found <%s>", t.Name.Local)
			}
			root = true
			if comps, err = p.components(); err != nil {
				return nil, err
			}
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return nil, errors.New("text outside the root element")
			}
		}
	}
}

// children reads the current element up to its end, handing each child element's start
// to fn, which must read that child to its own end (p.skip, or a parser of it); text
// between the children is ignored.
func (p *parser) children(fn func(xml.StartElement) error) error {
	for {
		tok, err := p.next()
		if err != nil {
			return eof(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// components reads the children of <components> up to its end.
func (p *parser) components() ([]Component, error) {
	var out []Component
	err := p.children(func(t xml.StartElement) error {
		if t.Name.Local != "component" {
			return p.skip()
		}
		c, err := p.component()
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (p *parser) component() (Component, error) {
	var c Component
	err := p.children(func(t xml.StartElement) error {
		var err error
		translated := lang(t) != ""
		switch {
		case t.Name.Local == "id":
			c.ID, err = p.text(maxShortText)
		case t.Name.Local == "name" && !translated:
			c.Name, err = p.text(maxShortText)
		case t.Name.Local == "summary" && !translated:
			c.Summary, err = p.text(maxSummary)
		case t.Name.Local == "project_license":
			c.License, err = p.text(maxShortText)
		case t.Name.Local == "url" && attr(t, "type") == "homepage":
			var u string
			if u, err = p.text(maxURL); err == nil {
				c.Homepage = webURL(u)
			}
		case t.Name.Local == "description" && !translated:
			c.Description, err = p.description(maxDescription)
		case t.Name.Local == "releases":
			c.Releases, err = p.releases()
		default:
			err = p.skip()
		}
		return err
	})
	return c, err
}

func (p *parser) releases() ([]metadata.Release, error) {
	var out []metadata.Release
	err := p.children(func(t xml.StartElement) error {
		if t.Name.Local != "release" || len(out) == maxReleases {
			return p.skip()
		}
		r := metadata.Release{Version: clip(collapse(attr(t, "version")), maxShortText), Date: releaseDate(attr(t, "date"), attr(t, "timestamp"))}
		var err error
		if r.Description, err = p.releaseBody(); err != nil {
			return err
		}
		if r.Version != "" {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// releaseBody reads a <release> element's children, keeping its description.
func (p *parser) releaseBody() (string, error) {
	desc := ""
	err := p.children(func(t xml.StartElement) error {
		if t.Name.Local != "description" || lang(t) != "" {
			return p.skip()
		}
		var err error
		desc, err = p.description(maxReleaseText)
		return err
	})
	if err != nil {
		return "", err
	}
	return desc, nil
}

// blocks are the paragraphs and list items of a description.
type blocks struct {
	b    strings.Builder
	last string // kind of the last block: "p" or "li"
	max  int
}

func (bs *blocks) add(kind, text string) {
	text = collapse(text)
	if text == "" || bs.b.Len() >= bs.max {
		return
	}
	if bs.b.Len() > 0 {
		if kind == "li" && bs.last == "li" {
			bs.b.WriteString("\n")
		} else {
			bs.b.WriteString("\n\n")
		}
	}
	if kind == "li" {
		text = "• " + text
	}
	bs.b.WriteString(text)
	bs.last = kind
}

// description reads an AppStream description (<p>, <ul>/<ol> of <li>, inline <em> and
// <code>) as plain text. Translated paragraphs are skipped.
func (p *parser) description(max int) (string, error) {
	bs := blocks{max: max}
	var cur strings.Builder
	kind := "" // the block being read: "p" or "li"
	depth := 0 // elements open inside the description
	for {
		tok, err := p.next()
		if err != nil {
			return "", eof(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if lang(t) != "" {
				if err := p.skip(); err != nil {
					return "", err
				}
				continue
			}
			depth++
			if (t.Name.Local == "p" || t.Name.Local == "li") && kind == "" {
				kind = t.Name.Local
				cur.Reset()
			}
		case xml.CharData:
			if kind != "" && cur.Len() < max {
				cur.Write(t)
			}
		case xml.EndElement:
			if depth == 0 {
				return clip(bs.b.String(), max), nil
			}
			depth--
			if t.Name.Local == kind {
				bs.add(kind, cur.String())
				kind = ""
			}
		}
	}
}

// text reads the character data of the current element (and of any inline children).
func (p *parser) text(max int) (string, error) {
	var b strings.Builder
	depth := 0
	for {
		tok, err := p.next()
		if err != nil {
			return "", eof(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.CharData:
			if b.Len() < 4*max {
				b.Write(t)
			}
		case xml.EndElement:
			if depth == 0 {
				return clip(collapse(b.String()), max), nil
			}
			depth--
		}
	}
}

// skip reads past the end of the current element.
func (p *parser) skip() error {
	for depth := 0; ; {
		tok, err := p.next()
		if err != nil {
			return eof(err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

func eof(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// lang is the xml:lang of an element; "" (and "C", AppStream's name for the untranslated
// text) mean untranslated.
func lang(t xml.StartElement) string {
	for _, a := range t.Attr {
		if a.Name.Local == "lang" && (a.Name.Space == "xml" || a.Name.Space == "http://www.w3.org/XML/1998/namespace") && a.Value != "C" {
			return a.Value
		}
	}
	return ""
}

// collapse turns every run of white space into one space and drops control characters.
func collapse(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// clip cuts s to at most max bytes at a character boundary, marking the cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// webURL keeps an absolute http(s) URL and drops anything else (javascript:, relative).
func webURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// releaseDate is a release's date as YYYY-MM-DD, from its date attribute (a date or an
// RFC 3339 time) or else its timestamp (seconds since 1970).
func releaseDate(date, timestamp string) string {
	if len(date) >= 10 {
		if t, err := time.Parse("2006-01-02", date[:10]); err == nil {
			return t.Format("2006-01-02")
		}
	}
	if n, err := strconv.ParseInt(timestamp, 10, 64); err == nil && n > 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC().Format("2006-01-02")
	}
	return ""
}
