package flatpak

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/appstream"
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
		body = fmt.Sprintf("[Flatpak Repo]\nTitle=%s\nUrl=oci+%s\nSuggestRemoteName=%s\n", h.opts.Title, base, RemoteName(h.opts.Title))
	case strings.HasSuffix(name, ".flatpakref") && appstream.ValidID(strings.TrimSuffix(name, ".flatpakref")):
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
			ref.ID, ref.Branch, ref.ID, base, ref.Kind == "runtime", RemoteName(h.opts.Title), base)
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(body))
	}
}

// RemoteName turns the title into the remote name Flatpak suggests to the user: lower
// case letters, digits, '-' and '_' ("Example Apps" → "example-apps").
func RemoteName(title string) string {
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

// findRef finds the published ref of an application or runtime id on the wanted branch
// (any branch when empty, preferring stable), from the App facts extracted at push.
func (h *FilesHandler) findRef(ctx context.Context, id, branch string) (*appstream.Ref, error) {
	images, err := h.store.AppImages(ctx, id)
	if err != nil {
		return nil, err
	}
	var found []appstream.Ref
	for _, im := range images {
		a := im.App
		if branch == "" || a.Branch == branch {
			if h.opts.Visible(im.Repository) {
				found = append(found, appstream.Ref{Kind: a.Kind, ID: a.ID, Arch: a.Arch, Branch: a.Branch})
			}
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortFunc(found, func(a, b appstream.Ref) int {
		if (a.Branch == "stable") != (b.Branch == "stable") {
			if a.Branch == "stable" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Branch, b.Branch)
	})
	return &found[0], nil
}
