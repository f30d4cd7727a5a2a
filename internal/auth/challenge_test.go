package auth

import "testing"

func TestChallenge(t *testing.T) {
	tests := []struct {
		realm, service, scope, code string
		want                        string
	}{
		{"https://r.example/token", "r.example", "repository:a/b:pull", ChallengeInsufficientScope,
			`Bearer realm="https://r.example/token",service="r.example",scope="repository:a/b:pull",error="insufficient_scope"`},
		{"https://r.example/token", "r.example", "", "",
			`Bearer realm="https://r.example/token",service="r.example"`},
		{"/token", "", "repository:a:pull repository:b:pull,push", ChallengeInvalidToken,
			`Bearer realm="/token",scope="repository:a:pull repository:b:pull,push",error="invalid_token"`},
		{`https://x/"t"\`, `s"`, "", "", `Bearer realm="https://x/\"t\"\\",service="s\""`},
		{"https://x/t\r\nSet-Cookie: a=b", "s\x00\x7f", "", "", `Bearer realm="https://x/tSet-Cookie: a=b",service="s"`},
	}
	for _, tt := range tests {
		if got := Challenge(tt.realm, tt.service, tt.scope, tt.code); got != tt.want {
			t.Errorf("Challenge(%q, %q, %q, %q) =\n %s\nwant\n %s", tt.realm, tt.service, tt.scope, tt.code, got, tt.want)
		}
	}
	if got := BasicChallenge(`Berth "x"`); got != `Basic realm="Berth \"x\"",charset="UTF-8"` {
		t.Errorf("BasicChallenge = %s", got)
	}
}
