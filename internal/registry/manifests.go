package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// maxConfigSize bounds how much of an image config is read at push time to extract
// labels and platform; configs of real images are a few KiB.
const maxConfigSize = 4 << 20

// Reference is a parsed tag or digest.
type Reference struct {
	Tag    string
	Digest digest.Digest
}

func (r Reference) String() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// ParseReference reads a manifest reference: a digest when it contains ':', else a tag.
func ParseReference(s string) (Reference, error) {
	if strings.Contains(s, ":") {
		d, err := oci.ParseDigest(s)
		if err != nil {
			return Reference{}, fmt.Errorf("%w: %w", ErrDigestInvalid, err)
		}
		return Reference{Digest: d}, nil
	}
	if !oci.ValidTag(s) {
		return Reference{}, fmt.Errorf("%w: %q", ErrReferenceInvalid, s)
	}
	return Reference{Tag: s}, nil
}

// PutResult is what a manifest push produced.
type PutResult struct {
	Digest  digest.Digest
	Subject digest.Digest
	Tags    []string
}

// PutManifest stores the manifest read from body under ref and the extra tags, all in one
// transaction. The body is read up to the size limit, parsed, checked against the blobs
// and manifests of the repository, and kept byte for byte.
func (s *Service) PutManifest(ctx context.Context, repo string, ref Reference, contentType string, body io.Reader, extraTags []string) (PutResult, error) {
	if err := checkName(repo); err != nil {
		return PutResult{}, err
	}
	tags := extraTags
	if ref.Tag != "" {
		tags = append([]string{ref.Tag}, extraTags...)
	}
	for _, t := range tags {
		if !oci.ValidTag(t) {
			return PutResult{}, fmt.Errorf("%w: invalid tag %q", ErrManifestInvalid, t)
		}
	}
	payload, err := io.ReadAll(io.LimitReader(body, s.opts.MaxManifestSize+1))
	if err != nil {
		return PutResult{}, fmt.Errorf("read manifest: %w", err)
	}
	if int64(len(payload)) > s.opts.MaxManifestSize {
		return PutResult{}, fmt.Errorf("%w: limit is %d bytes", ErrManifestTooLarge, s.opts.MaxManifestSize)
	}
	alg := digest.Canonical
	if ref.Digest != "" {
		alg = ref.Digest.Algorithm()
	}
	dgst := alg.FromBytes(payload)
	if ref.Digest != "" && dgst != ref.Digest {
		return PutResult{}, fmt.Errorf("%w: manifest has digest %s, not %s", ErrDigestInvalid, dgst, ref.Digest)
	}
	parsed, err := oci.ParseManifest(contentType, payload)
	if err != nil {
		return PutResult{}, fmt.Errorf("%w: %w", ErrManifestInvalid, err)
	}
	m, err := s.describe(ctx, repo, dgst, parsed, payload)
	if err != nil {
		return PutResult{}, err
	}
	mctx, moves := metadata.WithTagMoves(ctx)
	err = s.meta.PutManifest(mctx, repo, m, tags)
	if err := missingContent(err); err != nil {
		return PutResult{}, err
	}
	if q := denied(err); q != nil {
		return PutResult{}, q
	}
	if err := immutable(err); err != nil {
		return PutResult{}, err
	}
	if err != nil {
		return PutResult{}, fmt.Errorf("store manifest %s in %s: %w", dgst, repo, err)
	}
	s.emit(ctx, audit.ManifestPushed, repo+"@"+dgst.String(), audit.Data{Repository: repo, Digest: dgst.String(),
		MediaType: m.MediaType, Size: int64(len(payload)), Tags: tags})
	s.emitMoves(ctx, moves.List())
	return PutResult{Digest: dgst, Subject: m.Subject, Tags: tags}, nil
}

// missingContent is the one answer to a manifest that names content its repository lacks,
// or nil when err is not that: the kind and digest of the first missing reference, in the
// order the manifest lists them, and nothing about whether the content exists elsewhere.
func missingContent(err error) error {
	var missing *metadata.MissingError
	if !errors.As(err, &missing) {
		return nil
	}
	return fmt.Errorf("%w: %s %s", ErrManifestBlobUnknown, missing.Kind, missing.Digest)
}

// describe builds the stored record of a manifest, reading the image config (if any) for
// its platform and labels so that later queries never open blobs.
func (s *Service) describe(ctx context.Context, repo string, d digest.Digest, p *oci.Manifest, payload []byte) (*metadata.Manifest, error) {
	m := &metadata.Manifest{
		Digest:       d,
		MediaType:    p.MediaType,
		ArtifactType: p.ArtifactType,
		Annotations:  p.Annotations,
		Payload:      payload,
		CreatedAt:    time.Now(),
	}
	if p.Subject != nil {
		m.Subject = p.Subject.Digest
	}
	for _, c := range p.Manifests {
		m.Children = append(m.Children, c.Digest)
	}
	if p.Config == nil {
		return m, nil
	}
	m.ConfigDigest = p.Config.Digest
	m.ConfigMediaType = p.Config.MediaType
	m.Blobs = append(m.Blobs, p.Config.Digest)
	for _, l := range p.Layers {
		if oci.IsNonDistributable(l.MediaType) {
			continue
		}
		m.Blobs = append(m.Blobs, l.Digest)
	}
	if readsConfig(p) {
		cfg, err := s.readConfig(ctx, repo, p.Config.Digest)
		if err != nil {
			return nil, err
		}
		m.OS, m.Architecture, m.Variant, m.Labels = cfg.OS, cfg.Architecture, cfg.Variant, cfg.Labels
		m.App = s.appOf(ctx, repo, d, m.Labels)
	}
	return m, nil
}

// readsConfig reports whether describing p reads its image config: a config of another
// media type (an artifact's) holds no platform or labels.
func readsConfig(p *oci.Manifest) bool {
	return p.Config != nil && (p.Config.MediaType == oci.MediaTypeImageConfig || p.Config.MediaType == oci.MediaTypeDockerConfig)
}

func (s *Service) readConfig(ctx context.Context, repo string, d digest.Digest) (oci.ImageConfig, error) {
	// Configs are content-addressed, so a parsed one stays true; many manifests (every
	// tag of a build) share one. A cached config needs no lookup here: PutManifest checks,
	// in its transaction, that the config is a blob of repo, as it does for every layer.
	// The cache is keyed by repository too, so that it only ever remembers what the
	// repository itself was shown: a config cached from another repository would answer
	// faster, and tell whoever can push anywhere that some repository holds it.
	key := configKey{repo, d}
	if cfg, ok := s.configs.Get(key, nil); ok {
		return cfg, nil
	}
	b, err := s.meta.RepositoryBlob(ctx, repo, d)
	if errors.Is(err, metadata.ErrNotFound) {
		// The config is the manifest's first blob: the same answer as PutManifest's.
		return oci.ImageConfig{}, missingContent(&metadata.MissingError{Kind: "blob", Digest: d})
	}
	if err != nil {
		return oci.ImageConfig{}, fmt.Errorf("look up config %s: %w", d, err)
	}
	if b.Size > maxConfigSize {
		s.log.Warn("image config too large to index", "repo", repo, "digest", d, "size", b.Size)
		return oci.ImageConfig{}, nil
	}
	rc, err := s.OpenBlob(ctx, d, 0, -1)
	if err != nil {
		return oci.ImageConfig{}, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, maxConfigSize)); err != nil {
		return oci.ImageConfig{}, fmt.Errorf("read config %s: %w", d, err)
	}
	cfg, err := oci.ParseImageConfig(buf.Bytes())
	if err != nil {
		// An unreadable config does not make the manifest invalid; it only has no
		// platform or labels to index.
		s.log.Warn("image config not parsed", "repo", repo, "digest", d, "err", err)
		return oci.ImageConfig{}, nil
	}
	s.configs.Put(key, cfg)
	return cfg, nil
}

// Manifest returns the manifest ref points to in repo.
func (s *Service) Manifest(ctx context.Context, repo string, ref Reference) (*metadata.Manifest, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	d, err := s.resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	m, err := s.meta.Manifest(ctx, repo, d)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrManifestUnknown, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("get manifest %s of %s: %w", d, repo, err)
	}
	if s.opts.Pulls != nil {
		if ref.Tag != "" {
			s.opts.Pulls.Pulled(repo, ref.Tag)
		}
		s.opts.Pulls.Pulled(repo, d.String())
	}
	return m, nil
}

func (s *Service) resolve(ctx context.Context, repo string, ref Reference) (digest.Digest, error) {
	if ref.Digest != "" {
		return ref.Digest, nil
	}
	d, err := s.meta.ResolveTag(ctx, repo, ref.Tag)
	if errors.Is(err, metadata.ErrNotFound) {
		return "", fmt.Errorf("%w: %s", ErrManifestUnknown, ref)
	}
	if err != nil {
		return "", fmt.Errorf("resolve tag %s of %s: %w", ref.Tag, repo, err)
	}
	return d, nil
}

// DeleteManifest deletes a tag (ref is a tag: the manifest stays, pullable by digest,
// until retention or garbage collection removes it) or a manifest and all its tags (ref is
// a digest).
func (s *Service) DeleteManifest(ctx context.Context, repo string, ref Reference) error {
	if err := checkName(repo); err != nil {
		return err
	}
	if !s.opts.DeleteEnabled {
		return fmt.Errorf("%w: deletes are disabled", ErrUnsupported)
	}
	var err error
	mctx, moves := metadata.WithTagMoves(ctx)
	if ref.Tag != "" {
		err = s.meta.DeleteTag(mctx, repo, ref.Tag)
	} else {
		err = s.meta.DeleteManifest(mctx, repo, ref.Digest)
	}
	if errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrManifestUnknown, ref)
	}
	if err := immutable(err); err != nil {
		return err
	}
	if err != nil {
		return fmt.Errorf("delete %s from %s: %w", ref, repo, err)
	}
	if ref.Digest != "" {
		s.emit(ctx, audit.ManifestDeleted, repo+"@"+ref.Digest.String(), audit.Data{Repository: repo, Digest: ref.Digest.String()})
	}
	s.emitMoves(ctx, moves.List())
	return nil
}

// immutable turns the store's refusal to change an immutable tag into an error that is
// ErrTagImmutable with the refusal's own message (the tag, the rule, the digest it
// keeps), which clients print after the code; nil for any other error.
func immutable(err error) error {
	var ie *metadata.ImmutableError
	if errors.As(err, &ie) {
		return immutableError{ie}
	}
	return nil
}

type immutableError struct{ *metadata.ImmutableError }

func (e immutableError) Is(target error) bool { return target == ErrTagImmutable }
func (e immutableError) Unwrap() error        { return e.ImmutableError }
