package cli

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
)

// labelled returns a random image whose config has the platform and labels given.
func labelled(t *testing.T, arch string, labels map[string]string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1)
	must(t, err)
	cf, err := img.ConfigFile()
	must(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config.Labels = "linux", arch, labels
	img, err = mutate.ConfigFile(img, cf)
	must(t, err)
	return img
}

func writeRef(t *testing.T, ref string, v any) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	must(t, err)
	switch v := v.(type) {
	case v1.Image:
		must(t, ggcr.Write(r, v))
	case v1.ImageIndex:
		must(t, ggcr.WriteIndex(r, v))
	}
}

// TestFlatpakCrawlMatchesServedIndex crawls a Berth over the distribution API and
// checks that the index built equals the one Berth serves from its metadata, so a
// registry without an index gets exactly what flatpak would see from Berth.
func TestFlatpakCrawlMatchesServedIndex(t *testing.T) {
	host := startRegistry(t)
	app := labelled(t, "amd64", map[string]string{"org.flatpak.ref": "app/org.example.App/x86_64/stable", "org.flatpak.metadata": "[Application]"})
	writeRef(t, host+"/apps/example:latest", app)
	writeRef(t, host+"/apps/example:stable", app)
	var idx v1.ImageIndex = empty.Index
	for _, arch := range []string{"amd64", "arm64"} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: labelled(t, arch, map[string]string{"org.flatpak.ref": "runtime/org.example.Rt/" + arch + "/1"})})
	}
	writeRef(t, host+"/runtimes/example:1", idx)
	writeRef(t, host+"/plain/image:latest", labelled(t, "amd64", nil))

	var crawled, served map[string]any
	must(t, json.Unmarshal([]byte(mustBerth(t, "flatpak", "index", host)), &crawled))
	resp, err := http.Get("http://" + host + "/index/static?label:org.flatpak.ref:exists=1")
	must(t, err)
	defer resp.Body.Close()
	must(t, json.NewDecoder(resp.Body).Decode(&served))

	if crawled["Registry"] != "http://"+host+"/" {
		t.Errorf("Registry = %v", crawled["Registry"])
	}
	delete(crawled, "Registry")
	delete(served, "Registry")
	if !reflect.DeepEqual(crawled, served) {
		c, _ := json.MarshalIndent(crawled, "", " ")
		s, _ := json.MarshalIndent(served, "", " ")
		t.Fatalf("crawled index differs from the served one:\ncrawled: %s\nserved: %s", c, s)
	}
	if n := len(served["Results"].([]any)); n != 2 {
		t.Errorf("%d repositories indexed, want 2 (the unlabelled image is left out)", n)
	}
}
