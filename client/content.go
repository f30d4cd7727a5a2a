package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Manifest media types the client asks for.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// maxManifestSize bounds what the client reads as a manifest.
const maxManifestSize = 16 << 20

// Descriptor describes content by digest.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
}

// Platform is an index entry's platform.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func pullScope(repo Repository) string { return "repository:" + repo.Name + ":pull" }
func pushScope(repo Repository) string { return "repository:" + repo.Name + ":pull,push" }

func (c *Client) url(repo Repository, path string) string {
	return c.baseURL(repo.Host) + "/v2/" + repo.Name + path
}

// ManifestGet fetches a manifest by tag or digest and checks its digest.
func (c *Client) ManifestGet(ctx context.Context, repo Repository, ref string) (Descriptor, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, c.url(repo, "/manifests/"+ref), nil)
	if err != nil {
		return Descriptor{}, nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.do(ctx, req, pullScope(repo))
	if err != nil {
		return Descriptor{}, nil, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return Descriptor{}, nil, err
	}
	if len(body) > maxManifestSize {
		return Descriptor{}, nil, fmt.Errorf("%s:%s: manifest larger than %d bytes", repo, ref, maxManifestSize)
	}
	d := digest.FromBytes(body)
	if want, err := digest.Parse(ref); err == nil {
		d = want.Algorithm().FromBytes(body)
		if d != want {
			return Descriptor{}, nil, fmt.Errorf("%s@%s: registry sent a manifest with digest %s", repo, ref, d)
		}
	}
	return Descriptor{MediaType: mediaType(resp.Header), Digest: d.String(), Size: int64(len(body))}, body, nil
}

// ManifestHead returns the manifest's descriptor without its body.
func (c *Client) ManifestHead(ctx context.Context, repo Repository, ref string) (Descriptor, error) {
	req, err := http.NewRequest(http.MethodHead, c.url(repo, "/manifests/"+ref), nil)
	if err != nil {
		return Descriptor{}, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.do(ctx, req, pullScope(repo))
	if err != nil {
		return Descriptor{}, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return Descriptor{}, err
	}
	resp.Body.Close()
	return Descriptor{MediaType: mediaType(resp.Header), Digest: resp.Header.Get("Docker-Content-Digest"), Size: resp.ContentLength}, nil
}

func mediaType(h http.Header) string {
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.TrimSpace(mt)
}

// ManifestPut stores a manifest under ref (a tag or its digest) and returns its digest.
func (c *Client) ManifestPut(ctx context.Context, repo Repository, ref, mediaType string, body []byte) (string, error) {
	req, err := http.NewRequest(http.MethodPut, c.url(repo, "/manifests/"+ref), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.do(ctx, req, pushScope(repo))
	if err != nil {
		return "", err
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return "", err
	}
	drain(resp)
	return digest.FromBytes(body).String(), nil
}

// ManifestDelete deletes a manifest (by digest) or a tag.
func (c *Client) ManifestDelete(ctx context.Context, repo Repository, ref string) error {
	req, err := http.NewRequest(http.MethodDelete, c.url(repo, "/manifests/"+ref), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, req, "repository:"+repo.Name+":delete")
	if err != nil {
		return err
	}
	if err := expect(resp, http.StatusAccepted, http.StatusOK); err != nil {
		return err
	}
	drain(resp)
	return nil
}

// BlobHead returns a blob's size, or an *Error with status 404.
func (c *Client) BlobHead(ctx context.Context, repo Repository, d string) (int64, error) {
	req, err := http.NewRequest(http.MethodHead, c.url(repo, "/blobs/"+d), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, req, pullScope(repo))
	if err != nil {
		return 0, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.ContentLength, nil
}

// BlobGet streams a blob; the reader fails at its end if the bytes do not match d.
func (c *Client) BlobGet(ctx context.Context, repo Repository, d string) (io.ReadCloser, int64, error) {
	want, err := digest.Parse(d)
	if err != nil {
		return nil, 0, fmt.Errorf("blob digest %q: %w", d, err)
	}
	req, err := http.NewRequest(http.MethodGet, c.url(repo, "/blobs/"+d), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.do(ctx, req, pullScope(repo))
	if err != nil {
		return nil, 0, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return nil, 0, err
	}
	return &verifyingReader{rc: resp.Body, v: want.Verifier(), d: want}, resp.ContentLength, nil
}

type verifyingReader struct {
	rc io.ReadCloser
	v  digest.Verifier
	d  digest.Digest
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	_, _ = r.v.Write(p[:n])
	if err == io.EOF && !r.v.Verified() {
		return n, fmt.Errorf("blob %s: content does not match its digest", r.d)
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.rc.Close() }

// BlobMount links a blob from another repository of the same registry; it reports false
// when the registry answered with an upload session instead (the session is cancelled).
func (c *Client) BlobMount(ctx context.Context, repo Repository, d, from string) (bool, error) {
	q := url.Values{"mount": {d}}
	if from != "" {
		q.Set("from", from)
	}
	req, err := http.NewRequest(http.MethodPost, c.url(repo, "/blobs/uploads/?"+q.Encode()), nil)
	if err != nil {
		return false, err
	}
	scope := pushScope(repo)
	if from != "" {
		scope += " repository:" + from + ":pull"
	}
	resp, err := c.do(ctx, req, scope)
	if err != nil {
		return false, err
	}
	if err := expect(resp, http.StatusCreated, http.StatusAccepted); err != nil {
		return false, err
	}
	drain(resp)
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	if loc, err := resp.Location(); err == nil {
		if req, err := http.NewRequest(http.MethodDelete, loc.String(), nil); err == nil {
			if resp, err := c.do(ctx, req, scope); err == nil {
				drain(resp)
			}
		}
	}
	return false, nil
}

// BlobPut uploads size bytes of r as blob d: a POST for a session, then one PUT with
// the body (streamed, never buffered). When r is also an io.Seeker (a file) and the
// upload is cut by a transient failure, it asks the session how many bytes the
// registry kept, seeks there and sends the rest, with backoff, up to the client's retry
// count; a registry that lost the session gets a new one from byte 0. When it cannot
// go on, the error says how far the upload got (an *UploadError).
func (c *Client) BlobPut(ctx context.Context, repo Repository, d string, size int64, r io.Reader) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	rs, seekable := r.(io.ReadSeeker)
	var off int64
	for attempt := 0; ; attempt++ {
		body := &countingBody{r: r}
		err := c.finishUpload(ctx, repo, loc, d, size-off, body)
		if err == nil {
			return nil
		}
		sent := off + body.n
		if !(transient(err) || transientStatus(err)) {
			return err
		}
		if !seekable || attempt >= c.retries {
			return &UploadError{Repo: repo, Digest: d, Sent: sent, Size: size, Resumable: seekable, Err: err}
		}
		if err := c.backoff(ctx, attempt+1); err != nil {
			return err
		}
		if off, err = c.uploadOffset(ctx, repo, loc); err != nil {
			if StatusCode(err) != http.StatusNotFound {
				return &UploadError{Repo: repo, Digest: d, Sent: sent, Size: size, Resumable: seekable, Err: err}
			}
			if loc, err = c.startUpload(ctx, repo); err != nil {
				return err
			}
			off = 0
		}
		if off > size {
			off = 0 // a session that holds more than the blob is not ours to finish
		}
		if _, err := rs.Seek(off, io.SeekStart); err != nil {
			return err
		}
	}
}

// UploadError is a blob upload that could not be completed: the connection was lost,
// or the registry kept failing, after Sent of Size bytes had been sent.
type UploadError struct {
	Repo      Repository
	Digest    string
	Sent      int64
	Size      int64
	Resumable bool // the source could be re-read; the retries were spent
	Err       error
}

func (e *UploadError) Error() string {
	what := "connection lost"
	if transientStatus(e.Err) {
		what = "the registry kept failing"
	}
	msg := fmt.Sprintf("upload of blob %s to %s: %s after %d of %d bytes", e.Digest, e.Repo, what, e.Sent, e.Size)
	if !e.Resumable {
		msg += " (a stream that cannot be re-read cannot resume)"
	}
	return msg + ": " + e.Err.Error()
}

func (e *UploadError) Unwrap() error { return e.Err }

// countingBody counts what the transport read of a request body.
type countingBody struct {
	r io.Reader
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// BlobPutChunked uploads r as blob d in chunks of chunkSize with PATCH requests. On a
// 416, or a chunk cut by a transient failure, it asks the session where it stands and
// resumes from there, which is why r must be seekable.
func (c *Client) BlobPutChunked(ctx context.Context, repo Repository, d string, size int64, r io.ReadSeeker, chunkSize int64) error {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return err
	}
	var off int64
	failures := 0
	for off < size {
		n := min(chunkSize, size-off)
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			return err
		}
		req, err := http.NewRequest(http.MethodPatch, loc.String(), io.LimitReader(r, n))
		if err != nil {
			return err
		}
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
		resp, err := c.do(ctx, req, pushScope(repo))
		if err != nil {
			if !transient(err) || failures >= c.retries {
				return &UploadError{Repo: repo, Digest: d, Sent: off, Size: size, Resumable: true, Err: err}
			}
			failures++
			if err := c.backoff(ctx, failures); err != nil {
				return err
			}
			if off, err = c.uploadOffset(ctx, repo, loc); err != nil {
				return err
			}
			continue
		}
		switch resp.StatusCode {
		case http.StatusAccepted:
			off += n
		case http.StatusRequestedRangeNotSatisfiable:
			drain(resp)
			if off, err = c.uploadOffset(ctx, repo, loc); err != nil {
				return err
			}
			continue
		default:
			return expect(resp, http.StatusAccepted)
		}
		drain(resp)
		if next, err := resp.Location(); err == nil {
			loc = next
		}
	}
	return c.finishUpload(ctx, repo, loc, d, 0, nil)
}

func (c *Client) startUpload(ctx context.Context, repo Repository) (*url.URL, error) {
	req, err := http.NewRequest(http.MethodPost, c.url(repo, "/blobs/uploads/"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, req, pushScope(repo))
	if err != nil {
		return nil, err
	}
	if err := expect(resp, http.StatusAccepted); err != nil {
		return nil, err
	}
	drain(resp)
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("%s: upload session without Location: %w", repo, err)
	}
	return loc, nil
}

// uploadOffset asks an upload session how many bytes it holds.
func (c *Client) uploadOffset(ctx context.Context, repo Repository, loc *url.URL) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, loc.String(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, req, pushScope(repo))
	if err != nil {
		return 0, err
	}
	if err := expect(resp, http.StatusNoContent, http.StatusOK); err != nil {
		return 0, err
	}
	drain(resp)
	_, end, ok := strings.Cut(resp.Header.Get("Range"), "-")
	last, err := strconv.ParseInt(end, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("%s: upload status without a Range", repo)
	}
	if last == 0 && resp.Header.Get("Range") == "0-0" {
		// "0-0" is what registries send for an empty session, and also for one byte;
		// resuming from 0 is always safe, since the session truncates on overwrite.
		return 0, nil
	}
	return last + 1, nil
}

func (c *Client) finishUpload(ctx context.Context, repo Repository, loc *url.URL, d string, size int64, r io.Reader) error {
	u := *loc
	q := u.Query()
	q.Set("digest", d)
	u.RawQuery = q.Encode()
	var body io.Reader = http.NoBody
	if r != nil {
		body = r
	}
	req, err := http.NewRequest(http.MethodPut, u.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	if r != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.do(ctx, req, pushScope(repo))
	if err != nil {
		return err
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return err
	}
	drain(resp)
	return nil
}

// Ping checks that host is a registry that accepts the client's credentials (GET /v2/).
func (c *Client) Ping(ctx context.Context, host string) error {
	req, err := http.NewRequest(http.MethodGet, c.baseURL(host)+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, req, "")
	if err != nil {
		return err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return err
	}
	drain(resp)
	return nil
}
