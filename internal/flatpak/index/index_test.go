package index

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// TestBuilderOrdersWhateverTheInputOrder: the server adds in store order and the crawler
// in the order its workers finish; the document is the same.
func TestBuilderOrdersWhateverTheInputOrder(t *testing.T) {
	build := func(reverse bool) string {
		b := NewBuilder("https://r/")
		adds := []func(){
			func() { b.AddImage("b", []string{"v1"}, ListImage{Digest: "sha256:2"}) },
			func() { b.AddImage("b", nil, ListImage{Digest: "sha256:1", Labels: map[string]string{"k": "v"}}) },
			func() {
				b.AddList("a", List{Digest: "sha256:9", Images: []ListImage{{Digest: "sha256:8"}, {Digest: "sha256:7"}}})
			},
			func() { b.AddList("c", List{Digest: "sha256:5"}) }, // nothing in it matched
		}
		for i := range adds {
			if reverse {
				i = len(adds) - 1 - i
			}
			adds[i]()
		}
		out, err := json.Marshal(b.Index())
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	want := `{"Registry":"https://r/","Results":[` +
		`{"Name":"a","Images":[],"Lists":[{"Tags":[],"Digest":"sha256:9","MediaType":"","Images":[` +
		`{"Digest":"sha256:7","MediaType":"","OS":"","Architecture":"","Labels":{},"Annotations":{}},` +
		`{"Digest":"sha256:8","MediaType":"","OS":"","Architecture":"","Labels":{},"Annotations":{}}]}]},` +
		`{"Name":"b","Images":[` +
		`{"Tags":[],"Digest":"sha256:1","MediaType":"","OS":"","Architecture":"","Labels":{"k":"v"},"Annotations":{}},` +
		`{"Tags":["v1"],"Digest":"sha256:2","MediaType":"","OS":"","Architecture":"","Labels":{},"Annotations":{}}],"Lists":[]}]}`
	for _, reverse := range []bool{false, true} {
		if got := build(reverse); got != want {
			t.Errorf("reverse=%v:\n got %s\nwant %s", reverse, got, want)
		}
	}
	if got := NewBuilder("/").Index(); got.Results == nil {
		t.Error("an empty index has null Results")
	}
}

// TestEncoderWritesWhatBuilderBuilds: the server streams the document the crawler
// builds, byte for byte (as encoding/json writes it without HTML escapes), when the
// entries come in the order it requires.
func TestEncoderWritesWhatBuilderBuilds(t *testing.T) {
	type add struct {
		repo  string
		tags  []string
		image *ListImage
		list  *List
	}
	entries := []add{
		{repo: "a", list: &List{Digest: "sha256:9", Tags: []string{"latest"}, Images: []ListImage{{Digest: "sha256:7"}, {Digest: "sha256:8", Labels: map[string]string{"k": "<v>"}}}}},
		{repo: "b", tags: []string{"v1"}, image: &ListImage{Digest: "sha256:1"}},
		{repo: "b", image: &ListImage{Digest: "sha256:2", Annotations: map[string]string{"x": "y"}}},
		{repo: "b", list: &List{Digest: "sha256:3"}}, // nothing in it matched
		{repo: "b", list: &List{Digest: "sha256:4", Images: []ListImage{{Digest: "sha256:5"}}}},
		{repo: "c", list: &List{Digest: "sha256:6"}}, // a repository with an empty list only
		{repo: "d", tags: []string{"t"}, image: &ListImage{Digest: "sha256:0"}},
	}
	for _, n := range []int{0, 1, 3, len(entries)} {
		b := NewBuilder("https://r/")
		var buf bytes.Buffer
		enc := NewEncoder(&buf, "https://r/")
		for _, e := range entries[:n] {
			var err error
			if e.image != nil {
				b.AddImage(e.repo, e.tags, *e.image)
				err = enc.Image(e.repo, e.tags, *e.image)
			} else {
				b.AddList(e.repo, *e.list)
				err = enc.List(e.repo, *e.list)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		je := json.NewEncoder(&want)
		je.SetEscapeHTML(false)
		_ = je.Encode(b.Index())
		if !bytes.Equal(buf.Bytes(), bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("%d entries:\nencoder %s\nbuilder %s", n, buf.Bytes(), want.Bytes())
		}
	}
}

func TestEncoderRefusesEntriesOutOfOrder(t *testing.T) {
	tests := map[string]func(e *Encoder) error{
		"repository before the last": func(e *Encoder) error {
			_ = e.Image("b", nil, ListImage{})
			return e.Image("a", nil, ListImage{})
		},
		"image after a list": func(e *Encoder) error {
			_ = e.List("a", List{Images: []ListImage{{Digest: "sha256:1"}}})
			return e.Image("a", nil, ListImage{})
		},
		"unsorted list images": func(e *Encoder) error {
			return e.List("a", List{Images: []ListImage{{Digest: "sha256:2"}, {Digest: "sha256:1"}}})
		},
	}
	for name, fn := range tests {
		if err := fn(NewEncoder(io.Discard, "/")); !errors.Is(err, ErrOrder) {
			t.Errorf("%s: %v, want ErrOrder", name, err)
		}
	}
}
