package flatpak

import (
	"strconv"
	"strings"
)

// etagMatch implements the weak comparison of If-None-Match (RFC 9110 §13.1.2): W/
// prefixes (which proxies add) are ignored on both sides.
func etagMatch(headers []string, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for _, h := range headers {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag {
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding (RFC 9110 §12.5.3) accepts gzip: named
// (or as x-gzip), else through "*", with a weight above 0. A weight that does not parse
// counts as 0: when in doubt the answer goes uncompressed, which every client reads.
func acceptsGzip(headers []string) bool {
	gzip, star := -1.0, -1.0
	for _, h := range headers {
		for _, part := range strings.Split(h, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := weight(params)
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				gzip = max(gzip, q)
			case "*":
				star = max(star, q)
			}
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}

// weight reads the q parameter of an Accept-Encoding element: 1 when absent, 0 when
// malformed.
func weight(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		if len(v) == 0 || len(v) > 5 || strings.Trim(v, "0123456789.") != "" {
			return 0
		}
		q, err := strconv.ParseFloat(v, 64)
		if err != nil || q > 1 {
			return 0
		}
		return q
	}
	return 1
}
