package auth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Timing of a JWKS fetched from a URL: refetched when older than jwksTTL or when a
// token names a key it lacks (the issuer rotated keys), but never more often than every
// jwksRetry, so tokens with made-up key IDs cannot make Berth hammer the issuer.
const (
	jwksTTL     = 10 * time.Minute
	jwksRetry   = 30 * time.Second
	jwksTimeout = 10 * time.Second
)

// remoteJWKS is a key set fetched from a URL and cached.
type remoteJWKS struct {
	url    string
	client *http.Client
	now    func() time.Time

	fetchMu sync.Mutex // one fetch at a time; verifiers meanwhile use what is cached

	mu      sync.Mutex
	keys    []verKey
	fetched time.Time // of keys
	tried   time.Time // of the last attempt, successful or not
	gen     int       // attempts so far, to see whether another caller just fetched
	lastErr error
}

func newRemoteJWKS(rawURL string, client *http.Client, now func() time.Time) (*remoteJWKS, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("jwks_url %q is not an http(s) URL", rawURL)
	}
	// Keys fetched in clear text could be replaced by anyone on the path.
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("jwks_url %q must use https", rawURL)
	}
	if client == nil {
		client = &http.Client{Timeout: jwksTimeout}
	}
	return &remoteJWKS{url: rawURL, client: client, now: now}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// get returns the cached keys, refreshing them first when stale or when none has kid.
// A failed refresh keeps serving the keys last fetched.
func (r *remoteJWKS) get(ctx context.Context, kid string) ([]verKey, error) {
	r.mu.Lock()
	keys, fetched, tried, gen := r.keys, r.fetched, r.tried, r.gen
	r.mu.Unlock()
	now := r.now()
	stale := keys == nil || now.Sub(fetched) > jwksTTL || (kid != "" && !hasKid(keys, kid))
	if stale && (gen == 0 || now.Sub(tried) >= jwksRetry) {
		r.refresh(ctx, gen)
		r.mu.Lock()
		keys = r.keys
		r.mu.Unlock()
	}
	if keys == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return nil, fmt.Errorf("JWKS %s unavailable: %v", r.url, r.lastErr)
	}
	return keys, nil
}

// refresh fetches the key set unless another caller did since attempt seenGen.
func (r *remoteJWKS) refresh(ctx context.Context, seenGen int) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.mu.Lock()
	if r.gen != seenGen {
		r.mu.Unlock()
		return
	}
	r.gen++
	r.tried = r.now()
	r.mu.Unlock()

	keys, err := r.fetch(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
	if err == nil {
		r.keys, r.fetched = keys, r.now()
	}
}

func (r *remoteJWKS) fetch(ctx context.Context) ([]verKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", r.url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, err
	}
	return parseJWKS(data)
}

func hasKid(keys []verKey, kid string) bool {
	for _, k := range keys {
		if k.kid == kid {
			return true
		}
	}
	return false
}
