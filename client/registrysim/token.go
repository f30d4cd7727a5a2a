package registrysim

import (
	"fmt"
	"net/http"
	"strings"
)

// The Docker Hub simulation's token flow: a challenge naming the realm, a token for any
// requested scope, and insufficient_scope for "library/" repositories.
const simToken = "sim-token"

func (r *Registry) authorised(w http.ResponseWriter, req *http.Request, name string) bool {
	scope := "repository:" + name + ":pull"
	challenge := fmt.Sprintf(`Bearer realm="%s/token",service="registry.docker.io",scope="%s"`, r.URL, scope)
	if req.Header.Get("Authorization") != "Bearer "+simToken {
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return false
	}
	if strings.HasPrefix(name, "library/") {
		w.Header().Set("WWW-Authenticate", challenge+`,error="insufficient_scope"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return false
	}
	return true
}

func (r *Registry) token(w http.ResponseWriter, req *http.Request) {
	if req.URL.Query().Get("service") != "registry.docker.io" {
		http.Error(w, "unknown service", http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]any{"token": simToken, "access_token": simToken, "expires_in": 300})
}
