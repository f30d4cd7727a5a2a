package flatpak

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
)

// One-click install files, for web pages that offer "Install" links:
//
//	GET /flatpak/repo.flatpakrepo              the registry as a Flatpak remote
//	GET /flatpak/<APP-ID>.flatpakref[?branch=] one application (default branch: stable if
//	                                           published, else the first in byte order)
//
// Both name the registry as `oci+<scheme>://<host>`, taken from the public URL when one is
// configured, else from the request.

// FilesHandler serves .flatpakrepo and .flatpakref files.
type FilesHandler struct {
	store Store
	opts  FilesOptions
}

// FilesOptions configure the install files.
type FilesOptions struct {
	// BaseURL is the registry's public URL (e.g. https://registry.example.com); empty
	// means: derive it from each request.
	BaseURL string
	// Title names the remote in the .flatpakrepo file.
	Title string
	// Visible reports whether a repository may appear.
	Visible func(repo string) bool
}

// NewFilesHandler returns the handler for /flatpak/.
func NewFilesHandler(store Store, opts FilesOptions) *FilesHandler {
	if opts.Title == "" {
		opts.Title = "Berth"
	}
	if opts.Visible == nil {
		opts.Visible = func(string) bool { return true }
	}
	return &FilesHandler{store: store, opts: opts}
}

var appIDPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+$`)

func (h *FilesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	base := h.baseURL(r)
	name := strings.TrimPrefix(r.URL.Path, "/flatpak/")
	var body string
	switch {
	case name == "repo.flatpakrepo":
		w.Header().Set("Content-Type", "application/vnd.flatpak.repo")
		body = fmt.Sprintf("[Flatpak Repo]\nTitle=%s\nUrl=oci+%s\nSuggestRemoteName=%s\n", h.opts.Title, base, remoteName(h.opts.Title))
	case strings.HasSuffix(name, ".flatpakref") && appIDPattern.MatchString(strings.TrimSuffix(name, ".flatpakref")):
		id := strings.TrimSuffix(name, ".flatpakref")
		ref, err := h.findRef(r.Context(), id, r.URL.Query().Get("branch"))
		if err != nil {
			http.Error(w, "index unavailable", http.StatusInternalServerError)
			return
		}
		if ref == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.flatpak.ref")
		body = fmt.Sprintf("[Flatpak Ref]\nName=%s\nBranch=%s\nTitle=%s\nUrl=oci+%s\nIsRuntime=%t\nSuggestRemoteName=%s\nRuntimeRepo=%s/flatpak/repo.flatpakrepo\n",
			ref.id, ref.branch, ref.id, base, ref.kind == "runtime", remoteName(h.opts.Title), base)
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(body))
	}
}

// remoteName turns the title into the remote name Flatpak suggests to the user: lower
// case letters, digits, '-' and '_' ("Example Apps" → "example-apps").
func remoteName(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '.':
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "berth"
	}
	return b.String()
}

func (h *FilesHandler) baseURL(r *http.Request) string {
	if h.opts.BaseURL != "" {
		return strings.TrimSuffix(h.opts.BaseURL, "/")
	}
	// The server's edge sets the scheme (from TLS, or a trusted proxy's header).
	scheme := r.URL.Scheme
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	return scheme + "://" + r.Host
}

// flatpakRef is a parsed org.flatpak.ref label: kind/id/arch/branch.
type flatpakRef struct{ kind, id, arch, branch string }

// The ref comes from a pushed label and is written into a key file, so every part is
// checked against the characters Flatpak allows; nothing else can reach the file.
func parseFlatpakRef(s string) (flatpakRef, bool) {
	p := strings.Split(s, "/")
	if len(p) != 4 || (p[0] != "app" && p[0] != "runtime") ||
		!appIDPattern.MatchString(p[1]) || !refPart.MatchString(p[2]) || !refPart.MatchString(p[3]) {
		return flatpakRef{}, false
	}
	return flatpakRef{p[0], p[1], p[2], p[3]}, true
}

var refPart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// findRef finds the published ref of an application or runtime id on the wanted branch
// (any branch when empty, preferring stable).
func (h *FilesHandler) findRef(ctx context.Context, id, branch string) (*flatpakRef, error) {
	images, lists, err := h.store.FindImages(ctx, metadata.ImageFilter{
		Labels:  []metadata.KeyFilter{{Key: "org.flatpak.ref"}},
		Visible: h.opts.Visible,
	})
	if err != nil {
		return nil, err
	}
	var found []flatpakRef
	consider := func(repo string, labels map[string]string) {
		ref, ok := parseFlatpakRef(labels["org.flatpak.ref"])
		if ok && ref.id == id && (branch == "" || ref.branch == branch) && h.opts.Visible(repo) {
			found = append(found, ref)
		}
	}
	for _, im := range images {
		consider(im.Repository, im.Labels)
	}
	for _, l := range lists {
		for _, im := range l.Images {
			consider(l.Repository, im.Labels)
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortFunc(found, func(a, b flatpakRef) int {
		if (a.branch == "stable") != (b.branch == "stable") {
			if a.branch == "stable" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.branch, b.branch)
	})
	return &found[0], nil
}
