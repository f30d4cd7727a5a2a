package appstream

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const appdata = `<?xml version="1.0" encoding="UTF-8"?>
<components version="0.8" origin="flatpak">
  <component type="desktop-application">
    <id>org.example.Other</id>
    <name>Other</name>
  </component>
  <component type="desktop-application">
    <id>org.example.App.desktop</id>
    <name>Example  App</name>
    <name xml:lang="de">Beispiel</name>
    <summary>Does &lt;things&gt; &amp; more</summary>
    <summary xml:lang="fr">Fait</summary>
    <description>
      <p>First   paragraph with <em>emphasis</em>.</p>
      <p xml:lang="de">Erster Absatz</p>
      <ul><li>one</li><li>two &#x263A;</li></ul>
      <p>Last.</p>
    </description>
    <project_license>GPL-3.0-or-later</project_license>
    <url type="bugtracker">https://bugs.example.org</url>
    <url type="homepage">https://example.org/app</url>
    <releases>
      <release version="1.2" date="2024-03-01"><description><p>Fixes.</p></description></release>
      <release version="1.1" timestamp="1700000000"/>
    </releases>
  </component>
</components>`

func TestParseAppDataReadsTheAppsComponentAsText(t *testing.T) {
	c, err := ParseAppData(appdata, "org.example.App")
	if err != nil {
		t.Fatal(err)
	}
	want := Component{
		ID: "org.example.App.desktop", Name: "Example App", Summary: "Does <things> & more",
		Description: "First paragraph with emphasis.\n\n• one\n• two ☺\n\nLast.",
		License:     "GPL-3.0-or-later", Homepage: "https://example.org/app",
		Releases: []metadata.Release{{Version: "1.2", Date: "2024-03-01", Description: "Fixes."}, {Version: "1.1", Date: "2023-11-14"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %#v\nwant %#v", c, want)
	}
	if other, _ := ParseAppData(appdata, "org.example.Missing"); other.ID != "org.example.Other" {
		t.Fatalf("without a matching id the first component is used, got %q", other.ID)
	}
}

func TestParseAppDataRefuses(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"not XML", "hello"},
		{"another root", `<component><id>a.b</id></component>`},
		{"two roots", `<components><component/></components><components/>`},
		{"a DOCTYPE with entities", `<!DOCTYPE components [<!ENTITY x "xxxxxxxx">]><components><component><name>&x;</name></component></components>`},
		{"an undeclared entity", `<components><component><name>&x;</name></component></components>`},
		{"truncated", `<components><component><name>a`},
		{"no component", `<components></components>`},
		{"too deep", "<components><component><description>" + strings.Repeat("<p>", 40) + "x" + strings.Repeat("</p>", 40) + "</description></component></components>"},
		{"too large", "<components>" + strings.Repeat(" ", MaxAppDataSize) + "</components>"},
		{"too many tokens", "<components><component>" + strings.Repeat("<x/>", maxTokens) + "</component></components>"},
		{"another encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><components><component/></components>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseAppData(tt.doc, "a.b"); !errors.Is(err, ErrAppData) {
				t.Fatalf("err = %v, want ErrAppData", err)
			}
		})
	}
}

func TestParseAppDataBoundsAndCleansText(t *testing.T) {
	long := strings.Repeat("é", 2000)
	doc := `<components><component><id>a.b</id><name>` + long + `</name><summary> a&#9;

  b </summary>
		<url type="homepage">javascript:alert(1)</url><releases>` + strings.Repeat(`<release version="1"/>`, 20) + `</releases></component></components>`
	c, err := ParseAppData(doc, "a.b")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Name) > maxShortText || !strings.HasSuffix(c.Name, "…") || !strings.HasPrefix(c.Name, "éé") {
		t.Errorf("name not clipped at a character: %d bytes", len(c.Name))
	}
	if c.Summary != "a b" || c.Homepage != "" || len(c.Releases) != maxReleases {
		t.Errorf("summary %q homepage %q releases %d", c.Summary, c.Homepage, len(c.Releases))
	}
}

func TestDecodeIcon(t *testing.T) {
	good := pngOf(t, 64, 64)
	icon, err := DecodeIcon(metadata.LabelIcon64, DataURI(good))
	if err != nil || !bytes.Equal(icon.Data, good) || icon.Width != 64 || icon.Digest.Algorithm() != "sha256" || icon.Label != metadata.LabelIcon64 {
		t.Fatalf("good icon: %+v %v", icon, err)
	}
	if icon.Digest.Encoded() == "" || icon.Digest.Validate() != nil {
		t.Fatalf("digest %q", icon.Digest)
	}
	truncated := good[:len(good)-20]
	big := make([]byte, MaxIconSize+1)
	copy(big, good)
	tests := []struct{ name, label, value string }{
		{"not a data URI", metadata.LabelIcon64, "https://example.org/icon.png"},
		{"another type", metadata.LabelIcon64, "data:image/svg+xml;base64," + DataURI(good)[len(dataURIPrefix):]},
		{"bad base64", metadata.LabelIcon64, dataURIPrefix + "!!!"},
		{"not a PNG", metadata.LabelIcon64, DataURI([]byte("GIF89a not a png"))},
		{"wrong size", metadata.LabelIcon64, DataURI(pngOf(t, 128, 128))},
		{"not square", metadata.LabelIcon128, DataURI(pngOf(t, 128, 64))},
		{"truncated", metadata.LabelIcon64, DataURI(truncated)},
		{"too large", metadata.LabelIcon64, DataURI(big)},
		{"no icon label", "org.example.icon", DataURI(good)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeIcon(tt.label, tt.value); !errors.Is(err, ErrNotIcon) {
				t.Fatalf("err = %v, want ErrNotIcon", err)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	icon := pngOf(t, 128, 128)
	labels := map[string]string{
		metadata.LabelFlatpakRef: "app/org.example.App/x86_64/stable",
		metadata.LabelMetadata:   "[Application]\nname=org.example.App\nruntime=org.example.Platform/x86_64/24\nsdk=org.example.Sdk/x86_64/24\n",
		metadata.LabelAppData:    appdata,
		metadata.LabelIcon64:     "data:image/png;base64,AAAA",
		metadata.LabelIcon128:    DataURI(icon),
	}
	app, problems := Extract(labels)
	if app == nil || app.ID != "org.example.App" || app.Kind != "app" || app.Arch != "x86_64" || app.Branch != "stable" ||
		app.Runtime != "org.example.Platform/x86_64/24" || app.Name != "Example App" || app.Version != "1.2" {
		t.Fatalf("app %+v", app)
	}
	if len(app.Icons) != 1 || app.Icons[0].Label != metadata.LabelIcon128 || !bytes.Equal(app.Icons[0].Data, icon) {
		t.Fatalf("icons %+v", app.Icons)
	}
	if len(problems) != 1 || !errors.Is(problems[0], ErrNotIcon) {
		t.Fatalf("problems %v", problems)
	}
	labels[metadata.LabelAppData] = "<nope/>"
	if app, problems = Extract(labels); app == nil || app.Name != "" || len(problems) != 2 {
		t.Fatalf("bad appdata: %+v %v", app, problems)
	}
	for _, ref := range []string{"", "app/org.example.App/x86_64", "app/org.example.App/x86_64/stable/x", "thing/org.example.App/x86_64/stable", "app/noid/x86_64/stable", "app/org.example.App/x 86/stable", "app/org.example.App/x86_64/a\nb"} {
		if app, _ := Extract(map[string]string{metadata.LabelFlatpakRef: ref}); app != nil {
			t.Errorf("ref %q accepted", ref)
		}
	}
}

func TestRuntimeOf(t *testing.T) {
	tests := map[string]string{
		"[Application]\nruntime=org.a.B/x86_64/1\n":                  "org.a.B/x86_64/1",
		"[Runtime]\nruntime=org.a.B/x86_64/1\n":                      "",
		"[Application]\nname=x\n[Context]\nruntime=org.a.B/x86_64/1": "",
		"[Application]\nruntime = org.a.B/x86_64/1 \r\n":             "org.a.B/x86_64/1",
		"[Application]\nruntime=<script>/x/y\n":                      "",
	}
	for in, want := range tests {
		if got := runtimeOf(in); got != want {
			t.Errorf("runtimeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzAppData(f *testing.F) {
	f.Add(appdata, "org.example.App")
	f.Add(`<components><component><description><p>a<em>b</em></p><ul><li>c</li></ul></description></component></components>`, "a.b")
	f.Add(`<!DOCTYPE x><components/>`, "a.b")
	f.Fuzz(func(t *testing.T, doc, id string) {
		c, err := ParseAppData(doc, id)
		if err != nil {
			if !errors.Is(err, ErrAppData) {
				t.Fatalf("error not wrapped: %v", err)
			}
			return
		}
		if len(c.Name) > maxShortText || len(c.Summary) > maxSummary || len(c.Description) > maxDescription+len("…") ||
			len(c.Releases) > maxReleases || (c.Homepage != "" && !strings.HasPrefix(c.Homepage, "http")) {
			t.Fatalf("bounds not kept: %+v", c)
		}
	})
}

func FuzzDecodeIcon(f *testing.F) {
	f.Add(DataURI(pngOf(f, 64, 64)))
	f.Add("data:image/png;base64,iVBORw0KGgo=")
	f.Add("data:image/png;base64,")
	f.Fuzz(func(t *testing.T, v string) {
		icon, err := DecodeIcon(metadata.LabelIcon64, v)
		if err != nil {
			if !errors.Is(err, ErrNotIcon) {
				t.Fatalf("error not wrapped: %v", err)
			}
			return
		}
		if icon.Width != 64 || icon.Height != 64 || len(icon.Data) > MaxIconSize {
			t.Fatalf("accepted %+v", icon)
		}
	})
}
