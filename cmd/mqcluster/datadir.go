package main

import (
	"os"
	"path/filepath"
	"runtime"
)

// defaultDataDir returns where the job store lives by default: the user's
// state directory, as each OS names it, or "" if there is no home.
func defaultDataDir() string {
	switch runtime.GOOS {
	case "windows":
		if dir := os.Getenv("LocalAppData"); dir != "" {
			return filepath.Join(dir, "mqcluster")
		}
	case "darwin":
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, "Library", "Application Support", "mqcluster")
		}
	default:
		if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
			return filepath.Join(dir, "mqcluster")
		}
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".local", "state", "mqcluster")
		}
	}
	return ""
}
