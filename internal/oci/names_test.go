package oci

import (
	"errors"
	"strings"
	"testing"
)

func TestValidRepository(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"library/alpine", true}, {"a/b/c/d", true}, {"a.b_c__d-e--f", true},
		{"a___b", false}, {"a..b", false}, {"A", false}, {"a/", false}, {"/a", false}, {"a//b", false},
		{"-a", false}, {"a-", false}, {"", false}, {"a:b", false}, {"a/B", false},
		{strings.Repeat("a", 255), true}, {strings.Repeat("a", 256), false},
	}
	for _, tt := range tests {
		if got := ValidRepository(tt.name); got != tt.ok {
			t.Errorf("ValidRepository(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"latest", true}, {"_x", true}, {"1.0-rc.1", true}, {"A_b", true},
		{".x", false}, {"-x", false}, {"", false}, {"a:b", false}, {"a/b", false},
		{strings.Repeat("a", 128), true}, {strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		if got := ValidTag(tt.tag); got != tt.ok {
			t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.ok)
		}
	}
}

func TestParseDigest(t *testing.T) {
	sha256 := "sha256:" + strings.Repeat("ab", 32)
	sha512 := "sha512:" + strings.Repeat("cd", 64)
	tests := []struct {
		in   string
		want error
	}{
		{sha256, nil},
		{sha512, nil},
		{strings.ToUpper(sha256[:7]) + sha256[7:], ErrDigestInvalid}, // SHA256: is not the algorithm's name
		{"sha256:" + strings.Repeat("AB", 32), ErrDigestInvalid},
		{"sha256:" + strings.Repeat("a", 63), ErrDigestInvalid},
		{"sha512:" + strings.Repeat("a", 64), ErrDigestInvalid},
		{"sha256:", ErrDigestInvalid},
		{":abc", ErrDigestInvalid},
		{"sha256", ErrDigestInvalid},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", ErrDigestUnsupported},
		{"sha3+x:abc", ErrDigestUnsupported},
		{"sha256+:abc", ErrDigestInvalid},
		{"sha256:" + strings.Repeat("ab", 32) + "\n", ErrDigestInvalid},
	}
	for _, tt := range tests {
		d, err := ParseDigest(tt.in)
		if !errors.Is(err, tt.want) || (tt.want == nil && d.String() != tt.in) {
			t.Errorf("ParseDigest(%q) = %q, %v; want error %v", tt.in, d, err, tt.want)
		}
	}
}

func FuzzValidRepository(f *testing.F) {
	f.Add("library/alpine")
	f.Add("a__b/c--d")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidRepository(s) && (len(s) > 255 || strings.Contains(s, "//") || strings.ToLower(s) != s) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("ab", 32))
	f.Add("sha512:" + strings.Repeat("0", 128))
	f.Add("md5:x")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			return
		}
		if d.String() != s || d.Validate() != nil {
			t.Fatalf("ParseDigest(%q) = %q, which does not validate", s, d)
		}
	})
}
