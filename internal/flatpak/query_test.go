package flatpak

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  metadata.ImageFilter
	}{
		{"empty", "", metadata.ImageFilter{Labels: []metadata.KeyFilter{}, Annotations: []metadata.KeyFilter{}}},
		{"what flatpak 1.14 sends", "label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&os=linux&tag=latest", metadata.ImageFilter{
			Tags: []string{"latest"}, OS: []string{"linux"}, Architectures: []string{"amd64"},
			Labels: []metadata.KeyFilter{{Key: "org.flatpak.ref"}}, Annotations: []metadata.KeyFilter{},
		}},
		{"repeated values are any-of, sorted and deduplicated", "architecture=arm64&architecture=amd64&architecture=arm64", metadata.ImageFilter{
			Architectures: []string{"amd64", "arm64"}, Labels: []metadata.KeyFilter{}, Annotations: []metadata.KeyFilter{},
		}},
		{"label values and presence on one key: values win", "label:a=1&label:a:exists=1&label:a=2", metadata.ImageFilter{
			Labels: []metadata.KeyFilter{{Key: "a", Values: []string{"1", "2"}}}, Annotations: []metadata.KeyFilter{},
		}},
		{"exists with another value is a presence check", "annotation:x:exists=0", metadata.ImageFilter{
			Labels: []metadata.KeyFilter{}, Annotations: []metadata.KeyFilter{{Key: "x"}},
		}},
		{"keys with colons", "label:io.x:y=v", metadata.ImageFilter{
			Labels: []metadata.KeyFilter{{Key: "io.x:y", Values: []string{"v"}}}, Annotations: []metadata.KeyFilter{},
		}},
		{"unknown and empty keys ignored", "foo=bar&label:=x&label::exists=1&repository=a/b", metadata.ImageFilter{
			Repositories: []string{"a/b"}, Labels: []metadata.KeyFilter{{Key: ":exists", Values: []string{"1"}}}, Annotations: []metadata.KeyFilter{},
		}},
		{"a typo is ignored, not a filter", "architectur=amd64&os=linux", metadata.ImageFilter{
			OS: []string{"linux"}, Labels: []metadata.KeyFilter{}, Annotations: []metadata.KeyFilter{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := ParseQuery(q); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseQuery(%q) =\n %#v\nwant\n %#v", tt.query, got, tt.want)
			}
		})
	}
}

func TestParseQueryNamesIgnoredParameters(t *testing.T) {
	q, _ := url.ParseQuery("tag=latest&architectur=amd64&label:=x&annotation:a=1&Tag=x")
	if _, ignored := ParseQuery(q); !reflect.DeepEqual(ignored, []string{"Tag", "architectur", "label:"}) {
		t.Fatalf("ignored %q", ignored)
	}
	q, _ = url.ParseQuery("label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&os=linux&tag=latest")
	if _, ignored := ParseQuery(q); ignored != nil {
		t.Fatalf("the real client's query has ignored parameters: %q", ignored)
	}
}

func keyOf(q url.Values) string {
	f, _ := ParseQuery(q)
	return Key(f)
}

func TestKeyIgnoresParameterOrder(t *testing.T) {
	a, _ := url.ParseQuery("os=linux&architecture=amd64&architecture=arm64&label:a:exists=1&tag=latest")
	b, _ := url.ParseQuery("tag=latest&label%3Aa%3Aexists=1&architecture=arm64&os=linux&architecture=amd64")
	c, _ := url.ParseQuery("tag=latest&label:a=1&architecture=arm64&os=linux&architecture=amd64")
	if keyOf(a) != keyOf(b) {
		t.Fatalf("equal queries, different keys: %q vs %q", keyOf(a), keyOf(b))
	}
	if keyOf(a) == keyOf(c) {
		t.Fatal("presence check and value match share a key")
	}
}

func FuzzIndexQuery(f *testing.F) {
	f.Add("label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&os=linux&tag=latest")
	f.Add("label:a=1&label:a=2&annotation:b:exists=1&repository=x")
	f.Add("label:%ff:exists=1&%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		f1, _ := ParseQuery(q)
		// The key is canonical: parsing it again gives the same filter and key.
		q2, err := url.ParseQuery(strings.TrimSuffix(Key(f1), "&"))
		if err != nil {
			t.Fatalf("key %q does not parse: %v", Key(f1), err)
		}
		if f2, _ := ParseQuery(q2); Key(f2) != Key(f1) {
			t.Fatalf("key not stable: %q -> %q", Key(f1), Key(f2))
		}
	})
}
