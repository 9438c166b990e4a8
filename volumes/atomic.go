package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// file is one entry of an atomically written volume: its content and mode.
type file struct {
	data []byte
	mode os.FileMode
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// writeAtomic projects payload (relative path -> file) into dir the way the kubelet's
// AtomicWriter does, so a container that bind-mounted dir sees every update whole:
//
//	dir/..2006_01_02_15_04_05.NNNN/<paths>   the real files, one directory per version
//	dir/..data -> ..2006_01_02_15_04_05.NNNN  swapped with one rename(2)
//	dir/<first path element> -> ..data/<first path element>
//
// Nothing is written when the current version already holds payload. Names starting
// with ".." are reserved. Files and directories of a version are chowned to group gid
// unless gid is negative. It reports whether a new version was written.
func writeAtomic(dir string, payload map[string]file, gid int) (bool, error) {
	for p := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTS, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s link: %w", dataDirName, err)
	}
	oldPaths := map[string]bool{}
	if oldTS != "" {
		oldPaths, err = listFiles(filepath.Join(dir, oldTS))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		same, err := sameContent(filepath.Join(dir, oldTS), oldPaths, payload)
		if err != nil {
			return false, err
		}
		if same {
			// Still make sure the user-visible links exist (a crash may have cut them).
			return false, createVisible(dir, payload)
		}
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("create version directory: %w", err)
	}
	tsName := filepath.Base(tsDir)
	if err := os.Chmod(tsDir, 0o755); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}
	if gid >= 0 {
		if err := os.Lchown(tsDir, -1, gid); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
		if gid >= 0 {
			for d := filepath.Dir(full); d != tsDir; d = filepath.Dir(d) {
				if err := os.Lchown(d, -1, gid); err != nil {
					_ = os.RemoveAll(tsDir)
					return false, err
				}
			}
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("write %s: %w", p, err)
		}
		if gid >= 0 {
			if err := os.Lchown(full, -1, gid); err != nil {
				_ = os.RemoveAll(tsDir)
				return false, err
			}
		}
		// WriteFile is subject to the umask; the mode is the API's promise.
		if err := os.Chmod(full, f.mode); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
	}

	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(tsName, tmpLink); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, fmt.Errorf("link new version: %w", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		_ = os.Remove(tmpLink)
		_ = os.RemoveAll(tsDir)
		return false, fmt.Errorf("swap %s: %w", dataDirName, err)
	}
	if err := createVisible(dir, payload); err != nil {
		return true, err
	}
	// Drop user-visible links whose first element is gone from the payload.
	keep := firstElements(payload)
	for p := range oldPaths {
		first := strings.SplitN(p, "/", 2)[0]
		if !keep[first] {
			if err := os.Remove(filepath.Join(dir, first)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return true, err
			}
		}
	}
	if oldTS != "" && oldTS != tsName {
		if err := os.RemoveAll(filepath.Join(dir, oldTS)); err != nil {
			return true, fmt.Errorf("remove old version: %w", err)
		}
	}
	return true, nil
}

func validatePayloadPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("invalid path: empty")
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid path %q: must be relative", p)
	case len(p) > 4096:
		return fmt.Errorf("invalid path %q: longer than 4096", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
		if len(el) > 255 {
			return fmt.Errorf("invalid path %q: element longer than 255", p)
		}
	}
	return nil
}

func firstElements(payload map[string]file) map[string]bool {
	out := map[string]bool{}
	for p := range payload {
		out[strings.SplitN(p, "/", 2)[0]] = true
	}
	return out
}

// createVisible makes dir/<first> -> ..data/<first> for every payload path.
func createVisible(dir string, payload map[string]file) error {
	for first := range firstElements(payload) {
		link := filepath.Join(dir, first)
		target := filepath.Join(dataDirName, first)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("link %s: %w", first, err)
		}
	}
	return nil
}

// listFiles lists the regular files under root, relative to it.
func listFiles(root string) (map[string]bool, error) {
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out[rel] = true
		}
		return nil
	})
	return out, err
}

func sameContent(root string, have map[string]bool, payload map[string]file) (bool, error) {
	if len(have) != len(payload) {
		return false, nil
	}
	for p, f := range payload {
		if !have[p] {
			return false, nil
		}
		full := filepath.Join(root, p)
		st, err := os.Stat(full)
		if err != nil {
			return false, nil
		}
		if st.Mode().Perm() != f.mode.Perm() {
			return false, nil
		}
		b, err := os.ReadFile(full)
		if err != nil {
			return false, nil
		}
		if !bytes.Equal(b, f.data) {
			return false, nil
		}
	}
	return true, nil
}
