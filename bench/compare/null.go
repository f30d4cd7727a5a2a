package main

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

// nullRegistry is the loopback ceiling: it speaks just enough of the push and pull API
// to be driven like a registry, hashes every pushed byte with sha256 (as any registry
// must) and stores nothing but manifests. A pull is served from the generator the
// harness pushed from, so pulled bytes are real and verified too.
type nullRegistry struct {
	mu        sync.Mutex
	sessions  map[string]hash.Hash
	offsets   map[string]int64
	blobs     map[digest.Digest]int64
	sources   map[digest.Digest]func() io.Reader
	manifests map[string][]byte
	next      int
}

func newNullRegistry() *nullRegistry {
	return &nullRegistry{sessions: map[string]hash.Hash{}, offsets: map[string]int64{}, blobs: map[digest.Digest]int64{},
		sources: map[digest.Digest]func() io.Reader{}, manifests: map[string][]byte{}}
}

// source tells the registry how to produce a blob's bytes for pulls.
func (n *nullRegistry) source(d digest.Digest, gen func() io.Reader) {
	n.mu.Lock()
	n.sources[d] = gen
	n.mu.Unlock()
}

func (n *nullRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v2/":
		w.WriteHeader(200)
	case strings.Contains(p, "/blobs/uploads/"):
		n.upload(w, r)
	case strings.Contains(p, "/blobs/"):
		d := digest.Digest(p[strings.LastIndex(p, "/")+1:])
		n.mu.Lock()
		size, ok := n.blobs[d]
		gen := n.sources[d]
		n.mu.Unlock()
		if !ok {
			http.Error(w, "unknown", 404)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		if r.Method == http.MethodHead || gen == nil {
			return
		}
		_, _ = io.Copy(w, gen())
	case strings.Contains(p, "/manifests/"):
		ref := p[strings.LastIndex(p, "/")+1:]
		if r.Method == http.MethodPut {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
			d := digest.FromBytes(body)
			n.mu.Lock()
			n.manifests[ref], n.manifests[d.String()] = body, body
			n.mu.Unlock()
			w.Header().Set("Docker-Content-Digest", d.String())
			w.WriteHeader(201)
			return
		}
		n.mu.Lock()
		body, ok := n.manifests[ref]
		n.mu.Unlock()
		if !ok {
			http.Error(w, "unknown", 404)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		_, _ = w.Write(body)
	default:
		http.Error(w, "not here", 404)
	}
}

func (n *nullRegistry) upload(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	id := p[strings.LastIndex(p, "/")+1:]
	if r.Method == http.MethodPost {
		h := sha256.New()
		size, _ := io.Copy(h, r.Body)
		if d := r.URL.Query().Get("digest"); d != "" {
			n.finish(w, digest.Digest(d), h, size)
			return
		}
		n.mu.Lock()
		n.next++
		id = strconv.Itoa(n.next)
		n.sessions[id], n.offsets[id] = h, size
		n.mu.Unlock()
		w.Header().Set("Location", strings.TrimSuffix(p, "/")+"/"+id)
		w.WriteHeader(202)
		return
	}
	n.mu.Lock()
	h, ok := n.sessions[id]
	n.mu.Unlock()
	if !ok {
		http.Error(w, "unknown upload", 404)
		return
	}
	size, _ := io.Copy(h, r.Body)
	n.mu.Lock()
	n.offsets[id] += size
	total := n.offsets[id]
	n.mu.Unlock()
	if r.Method == http.MethodPatch {
		w.Header().Set("Location", p)
		w.Header().Set("Range", fmt.Sprintf("0-%d", total-1))
		w.WriteHeader(202)
		return
	}
	n.finish(w, digest.Digest(r.URL.Query().Get("digest")), h, total)
}

func (n *nullRegistry) finish(w http.ResponseWriter, d digest.Digest, h hash.Hash, size int64) {
	if digest.NewDigest(digest.SHA256, h) != d {
		http.Error(w, "digest mismatch", 400)
		return
	}
	n.mu.Lock()
	n.blobs[d] = size
	n.mu.Unlock()
	w.WriteHeader(201)
}
