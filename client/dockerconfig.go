package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// DockerConfigPath is the docker client's config file: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json.
func DockerConfigPath() (string, error) {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".docker", "config.json"), nil
}

type dockerAuth struct {
	Auth     string `json:"auth,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// DockerCredentials reads the `auths` of a docker config file (missing file: no
// credentials). Credential helpers are not consulted.
func DockerCredentials(path string) (CredentialFunc, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return func(string) (string, string, bool) { return "", "", false }, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Auths map[string]dockerAuth `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	byHost := map[string]dockerAuth{}
	for key, a := range cfg.Auths {
		byHost[authHost(key)] = a
	}
	return func(host string) (string, string, bool) {
		a, ok := byHost[authHost(host)]
		if !ok {
			return "", "", false
		}
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if user, pass, ok := strings.Cut(string(dec), ":"); err == nil && ok {
				return user, pass, true
			}
		}
		return a.Username, a.Password, a.Username != ""
	}, nil
}

// authHost normalises a docker config key or registry host: URLs are reduced to their
// host, and Docker Hub's names to one.
func authHost(key string) string {
	if u, err := url.Parse(key); err == nil && u.Host != "" {
		key = u.Host
	}
	key = strings.TrimSuffix(key, "/")
	switch key {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return key
}

// SaveDockerCredentials records user/pass for host in the docker config at path, keeping
// everything else in the file.
func SaveDockerCredentials(path, host, user, pass string) error {
	return editDockerConfig(path, func(auths map[string]any) bool {
		auths[host] = dockerAuth{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
		return true
	})
}

// RemoveDockerCredentials forgets host in the docker config at path and reports
// whether it held anything for host; a file that held nothing is left untouched.
func RemoveDockerCredentials(path, host string) (bool, error) {
	var removed bool
	err := editDockerConfig(path, func(auths map[string]any) bool {
		for k := range auths {
			if authHost(k) == authHost(host) {
				delete(auths, k)
				removed = true
			}
		}
		return removed
	})
	return removed, err
}

// editDockerConfig applies edit to the auths of the file at path, and writes the file
// back when edit reports a change.
func editDockerConfig(path string, edit func(map[string]any) bool) error {
	cfg := map[string]any{}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	auths, _ := cfg["auths"].(map[string]any)
	if auths == nil {
		auths = map[string]any{}
	}
	if !edit(auths) {
		return nil
	}
	cfg["auths"] = auths
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
