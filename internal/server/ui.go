package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/flatpak"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/ui"
)

// uiAccess adapts access control to the web UI: the same users and password checks
// (with the same failed-login limit), the same policy, and sessions signed with the
// token key so that any replica accepts them.
type uiAccess struct {
	a      *access
	expiry time.Duration
}

func (u uiAccess) Login(r *http.Request, name, password string) (string, error) {
	s, err := u.a.authn.Password(r, name, password)
	if err != nil {
		return "", err
	}
	return u.a.issuer.IssueSession(s, u.a.authn.Users(), u.expiry)
}

func (u uiAccess) Session(token string) (string, bool) {
	s, err := u.a.issuer.VerifySession(token, u.a.authn.Users())
	return s.Name, err == nil
}

// CanPull is the rule the API applies to a caller without a token: the policy.
func (u uiAccess) CanPull(user, repo string) bool {
	return slices.Contains(u.a.policy.Allowed(auth.Subject{Name: user}, repo), auth.ActionPull)
}

// mountUI serves the web UI at / and the icons extracted at push at /icons/ (for the UI
// and the Flatpak index), when either is on.
func mountUI(mux *http.ServeMux, cfg config.Config, meta metadata.Store, acc *access, log *slog.Logger) error {
	var uacc ui.Access
	public := func(string) bool { return true }
	var mayPull func(*http.Request, string) bool
	if acc != nil {
		ua := uiAccess{a: acc, expiry: cfg.UI.SessionExpiry}
		uacc, public = ua, acc.public
		// An icon is shown to whom the UI shows its image: the session's user.
		mayPull = func(r *http.Request, repo string) bool { return ua.CanPull(ui.SessionUser(r, ua), repo) }
	}
	if cfg.UI.Enabled || (cfg.Flatpak.Index && cfg.Flatpak.Icons == string(flatpak.IconsURL)) {
		mux.Handle("/icons/", flatpak.NewIconHandler(meta, log, public, mayPull))
	}
	if !cfg.UI.Enabled {
		return nil
	}
	h, err := ui.New(meta, uacc, log, ui.Options{
		Title: cfg.Flatpak.Title, BaseURL: strings.TrimSuffix(cfg.PublicURL, "/"), Flatpak: cfg.Flatpak.Index,
		FlatpakRemote: flatpak.RemoteName(cfg.Flatpak.Title), SessionExpiry: cfg.UI.SessionExpiry,
	})
	if err != nil {
		return err
	}
	mux.Handle("/", h)
	return nil
}
