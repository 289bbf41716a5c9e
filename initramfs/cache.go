package initramfs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// cachePrefix starts the name of every image Build writes; pruning touches
// nothing else in the cache directory.
const cachePrefix = "initramfs-"

// Build returns the path of the image o describes in o.CacheDir, writing it
// only when no image with the same contents is there yet.
//
// The name is a hash of the uncompressed archive, which is a function of
// every input's contents (the archive is reproducible: no times, owners or
// inode numbers from the master's file system), so a new binary, another
// module file or a new key makes a new name, and anything else finds the
// old file. Older images beyond the newest few are removed once the new one
// is in place; a server still sending one keeps its open descriptor, so
// nothing breaks mid-transfer.
func Build(o Options) (string, error) {
	if o.CacheDir == "" {
		return "", errors.New("initramfs: no cache directory given")
	}
	im, err := plan(o)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := im.write(h, false); err != nil {
		return "", err
	}
	name := cachePrefix + hex.EncodeToString(h.Sum(nil)[:16]) + ".cpio"
	if !o.Uncompressed {
		name += ".gz"
	}
	p := filepath.Join(o.CacheDir, name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
		return p, nil
	}

	// The image carries the node's private key: only root reads it here.
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return "", fmt.Errorf("initramfs: cache dir: %w", err)
	}
	f, err := os.CreateTemp(o.CacheDir, ".tmp-"+name+"-*")
	if err != nil {
		return "", fmt.Errorf("initramfs: cache: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err = im.write(f, !o.Uncompressed)
	// Sync before the rename: after a crash the final name must hold a
	// whole image or nothing, since a cache hit is never checked again.
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("initramfs: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("initramfs: cache: %w", err)
	}
	prune(o.CacheDir, name)
	return p, nil
}

// keepImages is how many images prune leaves: a master that builds for
// more than one kernel, or both compressed and not, into one directory
// would otherwise remove and rebuild its images in turn.
const keepImages = 4

// prune removes all but the keepImages newest images in dir (keep always
// stays), and temporary files a crashed build left. It is best effort: a
// leftover wastes space but is never served, since names come from
// contents.
func prune(dir, keep string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type image struct {
		name string
		mod  time.Time
	}
	var images []image
	for _, e := range ents {
		n := e.Name()
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		switch {
		case strings.HasPrefix(n, ".tmp-"+cachePrefix) && time.Since(fi.ModTime()) > time.Hour:
			os.Remove(filepath.Join(dir, n))
		case strings.HasPrefix(n, cachePrefix) && n != keep:
			images = append(images, image{n, fi.ModTime()})
		}
	}
	sort.Slice(images, func(i, j int) bool { return images[i].mod.After(images[j].mod) })
	for i := keepImages - 1; i < len(images); i++ {
		os.Remove(filepath.Join(dir, images[i].name))
	}
}
