package httphdr

import (
	"net/url"
	"reflect"
	"testing"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
	}{
		{"gitlab", []string{`</v2/group/project/tags/list?last=v1.0&n=100>; rel="next"`}, "/v2/group/project/tags/list?last=v1.0&n=100"},
		{"ghcr absolute with n=0", []string{`<https://ghcr.io/v2/o/r/tags/list?last=abc&n=0>; rel="next"`}, "https://ghcr.io/v2/o/r/tags/list?last=abc&n=0"},
		{"bare rel, upper case", []string{`</next>; REL=NEXT`}, "/next"},
		{"several rels", []string{`</p2>; rel="prefetch next"`}, "/p2"},
		{"next is the second value", []string{`</prev>; rel="prev", </after>; rel="next"`}, "/after"},
		{"comma inside target and quotes", []string{`</a?x=1,2>; title="a, b"; rel="next"`}, "/a?x=1,2"},
		{"values in two headers", []string{`</prev>; rel=prev`, `</n2>; rel=next`}, "/n2"},
		{"escaped quote in param", []string{`</x>; title="say \"hi\""; rel="next"`}, "/x"},
		{"garbage before good link", []string{`junk, </ok>; rel="next"`}, "/ok"},
		{"no next", []string{`</p>; rel="prev"`}, ""},
		{"unterminated", []string{`</p; rel="next"`}, ""},
		{"empty", nil, ""},
		{"first rel wins", []string{`</x>; rel="prev"; rel="next"`}, ""},
	}
	for _, tt := range tests {
		if got := NextLink(tt.headers); got != tt.want {
			t.Errorf("%s: NextLink(%q) = %q, want %q", tt.name, tt.headers, got, tt.want)
		}
	}
}

func TestResolveTarget(t *testing.T) {
	base, _ := url.Parse("https://r.example/v2/a/tags/list?n=10")
	for target, want := range map[string]string{
		"/v2/a/tags/list?last=x&n=10":      "https://r.example/v2/a/tags/list?last=x&n=10",
		"?last=y":                          "https://r.example/v2/a/tags/list?last=y",
		"https://other.example/v2/a/tags":  "https://other.example/v2/a/tags",
		"list?next_page=opaque%2Ftoken%3D": "https://r.example/v2/a/tags/list?next_page=opaque%2Ftoken%3D",
	} {
		u, err := ResolveTarget(base, target)
		if err != nil || u.String() != want {
			t.Errorf("ResolveTarget(%q) = %v, %v; want %s", target, u, err, want)
		}
	}
}

func TestParseChallenges(t *testing.T) {
	tests := []struct {
		header string
		want   []Challenge
	}{
		{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
			[]Challenge{{"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull"}}}},
		{`Bearer realm="https://r/token",error="insufficient_scope",scope="repository:a:pull,push"`,
			[]Challenge{{"bearer", map[string]string{"realm": "https://r/token", "error": "insufficient_scope", "scope": "repository:a:pull,push"}}}},
		{`Basic realm="Registry Realm"`, []Challenge{{"basic", map[string]string{"realm": "Registry Realm"}}}},
		{`basic realm=x, Bearer realm=y`, []Challenge{{"basic", map[string]string{"realm": "x"}}, {"bearer", map[string]string{"realm": "y"}}}},
		{`Bearer`, []Challenge{{"bearer", map[string]string{}}}},
		{`=x, "q", Bearer realm="a\"b"`, []Challenge{{"bearer", map[string]string{"realm": `a"b`}}}},
	}
	for _, tt := range tests {
		if got := ParseChallenges([]string{tt.header}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseChallenges(%q) = %+v, want %+v", tt.header, got, tt.want)
		}
	}
}

func FuzzLinkHeader(f *testing.F) {
	f.Add(`</v2/a/tags/list?last=x&n=100>; rel="next"`)
	f.Add(`<https://ghcr.io/v2/x/tags/list?n=0>; rel=next, </p>; rel="prev"`)
	f.Add(`<a>;;;=,<`)
	f.Fuzz(func(t *testing.T, h string) {
		for _, l := range ParseLinks([]string{h}) {
			if l.Params == nil {
				t.Fatal("nil params")
			}
		}
		_ = NextLink([]string{h})
	})
}

func FuzzWWWAuthenticate(f *testing.F) {
	f.Add(`Bearer realm="https://a/token",service="s",scope="repository:x:pull"`)
	f.Add(`Basic realm=x, Bearer error="invalid_token"`)
	f.Add(`"\`)
	f.Fuzz(func(t *testing.T, h string) {
		for _, c := range ParseChallenges([]string{h}) {
			if c.Scheme == "" || c.Params == nil {
				t.Fatalf("bad challenge %+v", c)
			}
		}
	})
}
