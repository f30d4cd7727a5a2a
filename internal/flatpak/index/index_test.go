package index

import (
	"encoding/json"
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
