package imagejob

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrUnsupportedFormat marks an output path whose extension names no format
// that Save can write.
var ErrUnsupportedFormat = errors.New("unsupported output format")

// jpegQuality is the quality of JPEG output on the 1 to 100 scale of
// image/jpeg.
const jpegQuality = 95

const supportedExtensions = ".png, .jpg, .jpeg or .gif"

// outputFormat returns the format name for the extension of path, or "" when
// Save cannot write it.
func outputFormat(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return "PNG"
	case ".jpg", ".jpeg":
		return "JPEG"
	case ".gif":
		return "GIF"
	}
	return ""
}

// CheckOutputPath returns an error unless Save can write to path: its
// extension must be .png, .jpg, .jpeg or .gif in any letter case, its
// directory must exist, and path must not be a directory. It lets a caller
// reject a bad path before doing any work. It does not check permissions.
func CheckOutputPath(path string) error {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("%s: is a directory, expected an image file name such as %s", path, filepath.Join(path, "out.png"))
	}
	if outputFormat(path) == "" {
		ext := filepath.Ext(path)
		if ext == "" {
			return fmt.Errorf("%s: %w: the name has no extension, use %s", path, ErrUnsupportedFormat, supportedExtensions)
		}
		return fmt.Errorf("%s: %w %q: use %s", path, ErrUnsupportedFormat, ext, supportedExtensions)
	}
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: directory %s does not exist, create it first", path, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	case !info.IsDir():
		return fmt.Errorf("%s: %s is not a directory", path, dir)
	}
	return nil
}

// Save writes img to path in the format that the extension names:
//
//   - .png keeps img as it is, including alpha and 16-bit samples.
//   - .jpg and .jpeg write a one-channel gray JPEG at quality 95.
//   - .gif writes a GIF whose palette is the 256 gray levels.
//
// JPEG and GIF store 8-bit gray without alpha. Save writes each pixel's Luma
// value from its unpremultiplied color, taking the high byte of a 16-bit
// value as color.GrayModel does, and drops alpha. For an image from
// GrayPlane.Image that value is the pixel's gray sample, because Luma returns
// V for R = G = B = V. SaveWarnings describes these losses for logging.
//
// Save never leaves a partial file at path: it writes a temporary file in the
// same directory, flushes it to disk, and renames it over path, or over the
// file that path links to when it is a symbolic link. On any error path keeps
// its previous content and the temporary file is removed. The new file gets
// the mode of the file it replaces, or 0644.
func Save(path string, img image.Image) error {
	if err := CheckOutputPath(path); err != nil {
		return err
	}
	format := outputFormat(path)
	return writeFileAtomic(path, func(w io.Writer) error {
		var err error
		switch format {
		case "JPEG":
			err = jpeg.Encode(w, gray8(img), &jpeg.Options{Quality: jpegQuality})
		case "GIF":
			err = gif.Encode(w, grayPaletted(img), nil)
		default:
			err = png.Encode(w, img)
		}
		if err != nil {
			return fmt.Errorf("encode %s: %w", format, err)
		}
		return nil
	})
}

// SaveWarnings returns one message for each kind of data that Save(path, img)
// drops: alpha and 16-bit precision for JPEG and GIF output. It returns nil
// for PNG output, which drops nothing.
func SaveWarnings(path string, img image.Image) []string {
	format := outputFormat(path)
	if format != "JPEG" && format != "GIF" {
		return nil
	}
	var warnings []string
	if hasAlpha(img) {
		warnings = append(warnings, fmt.Sprintf(
			"%s: %s cannot store alpha, so the alpha channel is dropped and transparent pixels show their gray value; use .png to keep it",
			path, format))
	}
	if depthOf(img) == 16 {
		warnings = append(warnings, fmt.Sprintf(
			"%s: %s stores 8 bits per sample, so the 16-bit gray values are reduced to their high byte; use .png to keep 16 bits",
			path, format))
	}
	return warnings
}

func hasAlpha(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return !o.Opaque()
	}
	return FromImage(img).Alpha != nil
}

// gray8 returns img as 8-bit gray without alpha, as Save documents.
func gray8(img image.Image) *image.Gray {
	p := FromImage(img)
	out := image.NewGray(image.Rect(0, 0, p.Width, p.Height))
	if p.Depth == 8 {
		luma8(p.RGB, out.Pix)
		return out
	}
	wide := make([]byte, 2*len(out.Pix))
	luma16(p.RGB, wide)
	for i := range out.Pix {
		out.Pix[i] = wide[2*i]
	}
	return out
}

// grayPalette maps palette index i to gray level i, so a gray image's samples
// are its palette indices.
var grayPalette = func() color.Palette {
	palette := make(color.Palette, 256)
	for i := range palette {
		palette[i] = color.Gray{Y: uint8(i)}
	}
	return palette
}()

func grayPaletted(img image.Image) *image.Paletted {
	g := gray8(img)
	return &image.Paletted{Pix: g.Pix, Stride: g.Stride, Rect: g.Rect, Palette: grayPalette}
}

// writeFileAtomic writes the output of encode to a temporary file next to
// path and renames it over path once the data is on disk. On error it removes
// the temporary file and leaves path untouched. When path is a symbolic link,
// the file it points to is replaced and the link stays.
func writeFileAtomic(path string, encode func(io.Writer) error) (err error) {
	target := path
	if resolved, resolveErr := filepath.EvalSymlinks(path); resolveErr == nil {
		target = resolved
	}
	mode := fs.FileMode(0o644)
	if info, statErr := os.Stat(target); statErr == nil {
		mode = info.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	defer func() {
		if err == nil {
			return
		}
		tmp.Close()
		if removeErr := os.Remove(tmp.Name()); removeErr != nil {
			err = fmt.Errorf("%w (and failed to remove the temporary file: %v)", err, removeErr)
		}
	}()

	buffered := bufio.NewWriter(tmp)
	if err := encode(buffered); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := buffered.Flush(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
