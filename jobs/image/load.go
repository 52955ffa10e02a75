package imagejob

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"strings"

	// Registers the GIF decoder with image.Decode. The PNG and JPEG decoders
	// are registered by the imports above.
	_ "image/gif"
)

// DefaultMaxPixels is the default limit on width*height for Load. As an
// estimate of the memory it allows, a 100-megapixel 8-bit RGB PNG takes
// 400 MB decoded and 300 MB as Pixels, and Split's payloads take another
// 300 MB. Depth 16 takes twice as much.
const DefaultMaxPixels = 100_000_000

// Errors that Load returns, for use with errors.Is. Each message names the
// file and the fix, and does not repeat the text of these values.
var (
	// ErrNotImage marks a file that is empty or not a PNG, JPEG or GIF.
	ErrNotImage = errors.New("not a supported image")
	// ErrInvalidImage marks a PNG, JPEG or GIF file whose data is truncated,
	// corrupt or uses a feature that Go's decoders do not support.
	ErrInvalidImage = errors.New("invalid image data")
	// ErrTooLarge marks an image with more pixels than the limit.
	ErrTooLarge = errors.New("image has too many pixels")
)

// loadError is an error with its own message that still matches a sentinel
// and the underlying cause with errors.Is.
type loadError struct {
	msg   string
	kind  error
	cause error
}

func (e *loadError) Error() string { return e.msg }

func (e *loadError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// Load reads the PNG, JPEG or GIF file at path and returns its pixels. It
// reads the header first and rejects the image with ErrTooLarge, before
// decoding any pixel data, when width*height exceeds maxPixels. A maxPixels
// of 0 selects DefaultMaxPixels, and a negative one is an error.
//
// For a GIF, Load returns only the first frame, at the frame's own size, which
// may be smaller than the GIF's logical screen.
//
// An error that opening the file returns, such as a missing file, comes back
// as the *fs.PathError of os.Open. Every other error about the file is one
// line that names path.
func Load(path string, maxPixels int64) (*Pixels, error) {
	if maxPixels < 0 {
		return nil, fmt.Errorf("invalid pixel limit %d: --max-pixels must be positive", maxPixels)
	}
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	if err := checkRegularFile(f, path); err != nil {
		return nil, err
	}
	if err := checkHeader(f, path, maxPixels); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	img, format, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		if !endsWithMarker(f, format) {
			return nil, truncatedError(path, format, err)
		}
		return nil, decodeError(path, format, err)
	}
	return FromImage(img), nil
}

func checkRegularFile(f *os.File, path string) error {
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case info.IsDir():
		return &loadError{msg: path + ": is a directory, expected an image file", kind: ErrNotImage}
	case !info.Mode().IsRegular():
		return &loadError{msg: path + ": is not a regular file, expected an image file", kind: ErrNotImage}
	case info.Size() == 0:
		return &loadError{msg: "read " + path + ": file is empty", kind: ErrNotImage}
	}
	return nil
}

// checkHeader reads only the image header and checks the image size.
func checkHeader(f *os.File, path string, maxPixels int64) error {
	config, format, err := image.DecodeConfig(bufio.NewReader(f))
	if errors.Is(err, image.ErrFormat) {
		return &loadError{msg: path + ": not a supported image (PNG, JPEG or GIF)", kind: ErrNotImage}
	}
	if err != nil {
		return decodeError(path, format, err)
	}
	if config.Width < 1 || config.Height < 1 {
		return &loadError{
			msg: fmt.Sprintf("%s: image is %dx%d pixels, expected at least 1x1",
				path, config.Width, config.Height),
			kind: ErrInvalidImage,
		}
	}
	if pixels := int64(config.Width) * int64(config.Height); pixels > maxPixels {
		return &loadError{
			msg: fmt.Sprintf("%s: %dx%d pixels is more than the limit of %d (--max-pixels), raise the limit to convert it",
				path, config.Width, config.Height, maxPixels),
			kind: ErrTooLarge,
		}
	}
	return nil
}

// endMarkers are the bytes at the end of a complete file of each format:
// the IEND chunk of a PNG, the EOI marker of a JPEG and the trailer of a GIF.
var endMarkers = map[string][]byte{
	"png":  {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82},
	"jpeg": {0xff, 0xd9},
	"gif":  {0x3b},
}

// endsWithMarker reports whether f ends with the end marker of format. Go's
// PNG and JPEG decoders report most truncated files as invalid data, so Load
// checks the end of a file that failed to decode to tell the two apart.
// NOTE: a corrupt file with bytes after its end marker, which some cameras
// append to JPEGs, is therefore reported as truncated.
func endsWithMarker(f *os.File, format string) bool {
	marker, ok := endMarkers[format]
	if !ok {
		return true
	}
	info, err := f.Stat()
	if err != nil || info.Size() < int64(len(marker)) {
		return false
	}
	tail := make([]byte, len(marker))
	if _, err := f.ReadAt(tail, info.Size()-int64(len(marker))); err != nil {
		return false
	}
	return bytes.Equal(tail, marker)
}

func truncatedError(path, format string, err error) error {
	return &loadError{
		msg: fmt.Sprintf("decode %s: truncated %s data (%v), copy or export the file again",
			path, strings.ToUpper(format), err),
		kind:  ErrInvalidImage,
		cause: err,
	}
}

// decodeError describes a failure of a decoder for format: "png", "jpeg" or
// "gif".
func decodeError(path, format string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return truncatedError(path, format, err)
	}
	name := strings.ToUpper(format)
	var msg string
	var pngUnsupported png.UnsupportedError
	var jpegUnsupported jpeg.UnsupportedError
	switch {
	case errors.As(err, &pngUnsupported) || errors.As(err, &jpegUnsupported):
		msg = fmt.Sprintf("decode %s: %s feature not supported by Go's decoder (%v), re-save the file as an 8-bit PNG or a baseline JPEG",
			path, name, err)
	default:
		msg = fmt.Sprintf("decode %s: invalid %s data (%v), copy or export the file again", path, name, err)
	}
	return &loadError{msg: msg, kind: ErrInvalidImage, cause: err}
}
