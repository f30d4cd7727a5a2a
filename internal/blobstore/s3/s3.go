// Package s3 is the blob store of the scaled mode: blobs as objects of an S3 or
// S3-compatible bucket, shared by every replica. An upload in progress is a series of
// part objects, one per append, so any replica can continue it; Commit assembles them
// into the blob with a multipart upload (copied inside the object store when the parts
// are large enough) and removes them.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
)

// Options locate the bucket; an s3:// URL gives them all but the credentials.
type Options struct {
	Bucket    string
	Prefix    string // key prefix, without leading or trailing slash
	Endpoint  string // e.g. http://127.0.0.1:9000; empty: AWS
	Region    string
	PathStyle bool
	// AccessKey and SecretKey; empty: the usual AWS environment and profiles.
	AccessKey, SecretKey string
	// PartSize is how much of a body of unknown length is held at once to write one
	// part object (default 8 MiB). It bounds the memory an upload takes.
	PartSize int64
}

// ParseURL reads s3://BUCKET/PREFIX?endpoint=URL&region=R&path_style=true.
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Options{}, fmt.Errorf("blob store URL %q: want s3://BUCKET/PREFIX?endpoint=...&region=...", raw)
	}
	q := u.Query()
	o := Options{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: q.Get("endpoint"), Region: q.Get("region")}
	if v := q.Get("path_style"); v != "" {
		if o.PathStyle, err = strconv.ParseBool(v); err != nil {
			return Options{}, fmt.Errorf("blob store URL: path_style=%q", v)
		}
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	return o, nil
}

// Store is the S3 blob store.
type Store struct {
	c       *s3.Client
	presign *s3.PresignClient
	o       Options
}

// Open connects to the bucket and checks that it answers.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.PartSize <= 0 {
		o.PartSize = 8 << 20
	}
	loads := []func(*config.LoadOptions) error{config.WithRegion(o.Region)}
	if o.AccessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("s3 configuration: %w", err)
	}
	// S3-compatible servers reject the checksums the SDK adds by default; send and
	// check them only where the API requires them.
	cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	c := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// versitygw's posix backend answers a write that races a delete in the same
		// "directory" with 409 ExistingObjectIsDirectory (versity/versitygw#1988, seen
		// here with v1.8.0 under 16 concurrent pushes); the same write succeeds again.
		// Every body Berth sends is seekable, so a retry resends it whole.
		so.Retryer = retry.AddWithErrorCodes(so.Retryer, "ExistingObjectIsDirectory")
	})
	s := &Store{c: c, presign: s3.NewPresignClient(c), o: o}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &o.Bucket}); err != nil {
		return nil, fmt.Errorf("s3 bucket %s: %w", o.Bucket, err)
	}
	return s, nil
}

func (s *Store) key(parts ...string) string {
	k := strings.Join(parts, "/")
	if s.o.Prefix != "" {
		k = s.o.Prefix + "/" + k
	}
	return k
}

func (s *Store) blobKey(d digest.Digest) string {
	enc := d.Encoded()
	return s.key("blobs", d.Algorithm().String(), enc[:2], enc)
}

// Stat returns the size of a committed blob.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.o.Bucket, Key: aws.String(s.blobKey(d))})
	if err != nil {
		return 0, notFound(err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Open streams length bytes of a blob from offset (length < 0: to the end).
func (s *Store) Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.o.Bucket, Key: aws.String(s.blobKey(d))}
	switch {
	case length == 0:
		if _, err := s.Stat(ctx, d); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.c.GetObject(ctx, in)
	if err != nil {
		return nil, notFound(err)
	}
	return out.Body, nil
}

// Delete removes a committed blob.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	if _, err := s.Stat(ctx, d); err != nil {
		return err
	}
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.o.Bucket, Key: aws.String(s.blobKey(d))})
	return err
}

// PresignGet returns a URL from which a client may fetch the blob directly, for
// redirects that keep blob bytes off Berth.
func (s *Store) PresignGet(ctx context.Context, d digest.Digest, expiry time.Duration) (string, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.o.Bucket, Key: aws.String(s.blobKey(d))},
		s3.WithPresignExpires(expiry))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

// notFound maps the object store's "no such key" to blobstore.ErrNotFound.
func notFound(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey", "404":
			return blobstore.ErrNotFound
		}
	}
	return err
}
