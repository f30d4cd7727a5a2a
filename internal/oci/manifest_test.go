package oci

import (
	"errors"
	"strings"
	"testing"
)

var (
	dA = "sha256:" + strings.Repeat("a", 64)
	dB = "sha256:" + strings.Repeat("b", 64)
)

func TestParseManifest(t *testing.T) {
	image := `{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","config":{"mediaType":"` + MediaTypeImageConfig + `","digest":"` + dA + `","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + dB + `","size":3}],"annotations":{"k":"v"}}`
	tests := []struct {
		name, contentType, body string
		wantType                string
		wantErr                 bool
	}{
		{"oci image", MediaTypeImageManifest, image, MediaTypeImageManifest, false},
		{"content type parameters ignored", MediaTypeImageManifest + "; charset=utf-8", image, MediaTypeImageManifest, false},
		{"type from body", "application/octet-stream", image, MediaTypeImageManifest, false},
		{"mismatched content type", MediaTypeImageIndex, image, "", true},
		{"oci index", MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[{"mediaType":"` + MediaTypeImageManifest + `","digest":"` + dA + `","size":5,"platform":{"os":"linux","architecture":"arm64"}}]}`, MediaTypeImageIndex, false},
		{"docker manifest", MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":{"mediaType":"` + MediaTypeDockerConfig + `","digest":"` + dA + `","size":2},"layers":[]}`, MediaTypeDockerManifest, false},
		{"docker list", MediaTypeDockerManifestList, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifestList + `","manifests":[]}`, MediaTypeDockerManifestList, false},
		{"docker without schemaVersion", MediaTypeDockerManifest, `{"config":{"mediaType":"x","digest":"` + dA + `","size":2}}`, "", true},
		{"artifact with subject", MediaTypeImageManifest, `{"schemaVersion":2,"artifactType":"application/x-sig","config":{"mediaType":"` + MediaTypeEmpty + `","digest":"` + dA + `","size":2},"layers":[],"subject":{"mediaType":"` + MediaTypeImageManifest + `","digest":"` + dB + `","size":9}}`, MediaTypeImageManifest, false},
		{"bad layer digest", MediaTypeImageManifest, strings.Replace(image, dB, "sha256:xyz", 1), "", true},
		{"unsupported layer algorithm", MediaTypeImageManifest, strings.Replace(image, dB, "md5:d41d8cd98f00b204e9800998ecf8427e", 1), "", true},
		{"negative size", MediaTypeImageManifest, strings.Replace(image, `"size":3`, `"size":-3`, 1), "", true},
		{"missing config", MediaTypeImageManifest, `{"schemaVersion":2,"layers":[]}`, "", true},
		{"schema 1", MediaTypeImageManifest, `{"schemaVersion":1,"config":{"mediaType":"x","digest":"` + dA + `","size":1}}`, "", true},
		{"not json", MediaTypeImageManifest, `{`, "", true},
		{"json array", MediaTypeImageManifest, `[]`, "", true},
		{"unknown shape", "", `{"schemaVersion":2}`, "", true},
		{"unknown declared type", "", `{"schemaVersion":2,"mediaType":"text/plain","config":{}}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest(tt.contentType, []byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrManifestInvalid) {
					t.Fatalf("err = %v, want ErrManifestInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != tt.wantType {
				t.Fatalf("media type %q, want %q", m.MediaType, tt.wantType)
			}
		})
	}
}

func TestParseManifestExtractsReferences(t *testing.T) {
	body := `{"schemaVersion":2,"artifactType":"application/x-sig","config":{"mediaType":"` + MediaTypeEmpty + `","digest":"` + dA + `","size":2},"layers":[{"mediaType":"` + MediaTypeDockerForeignLayer + `","digest":"` + dB + `","size":1}],"subject":{"mediaType":"` + MediaTypeImageManifest + `","digest":"` + dB + `","size":9},"annotations":{"a":"1"}}`
	m, err := ParseManifest(MediaTypeImageManifest, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != "application/x-sig" || m.Config.Digest.String() != dA || m.Subject.Digest.String() != dB ||
		len(m.Layers) != 1 || !IsNonDistributable(m.Layers[0].MediaType) || m.Annotations["a"] != "1" || m.IsIndex() {
		t.Fatalf("unexpected %+v", m)
	}
}

func TestParseImageConfig(t *testing.T) {
	c, err := ParseImageConfig([]byte(`{"os":"linux","architecture":"arm64","variant":"v8","config":{"Labels":{"org.flatpak.ref":"app/x/aarch64/stable"}},
		"rootfs":{"type":"layers","diff_ids":["sha256:a","sha256:b"]}}`))
	if err != nil || c.OS != "linux" || c.Architecture != "arm64" || c.Variant != "v8" || c.Labels["org.flatpak.ref"] != "app/x/aarch64/stable" ||
		len(c.DiffIDs) != 2 || c.DiffIDs[1] != "sha256:b" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := ParseImageConfig([]byte(`"x"`)); err == nil {
		t.Fatal("accepted a non-object config")
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"a","digest":"`+dA+`","size":1},"layers":[]}`))
	f.Add(MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"a","digest":"`+dA+`","size":1}]}`))
	f.Add("", []byte(`{"subject":null}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := ParseManifest(ct, body)
		if err != nil {
			return
		}
		if !IsManifestMediaType(m.MediaType) || (m.IsIndex() != (m.Config == nil)) {
			t.Fatalf("inconsistent manifest %+v", m)
		}
	})
}

func FuzzParseImageConfig(f *testing.F) {
	f.Add([]byte(`{"os":"linux","config":{"Labels":{"a":"b"}}}`))
	f.Add([]byte(`{"config":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = ParseImageConfig(body)
	})
}
