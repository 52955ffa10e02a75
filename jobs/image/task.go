package imagejob

import (
	"errors"
	"fmt"
)

// Kind is the task kind of a tile conversion.
const Kind = "image.gray"

// HeaderSize is the length of the task header that precedes the RGB samples.
const HeaderSize = 6

// ErrInvalidTask marks a task payload that can never be processed, so the
// task should fail without a retry.
var ErrInvalidTask = errors.New("invalid image.gray task")

// TileTask is one tile to convert. Its wire format, all integers big-endian:
//
//	byte 0      depth: 8 or 16
//	byte 1      method: 0 (luma) or 1 (average)
//	bytes 2-3   width in pixels, uint16, at least 1
//	bytes 4-5   height in pixels, uint16, at least 1
//	bytes 6-    width*height*3 RGB samples in row-major order,
//	            1 byte each at depth 8, 2 bytes each at depth 16
//
// The result of a task is width*height gray samples in the same order and
// sample size.
type TileTask struct {
	Depth         int
	Method        Method
	Width, Height int
	RGB           []byte
}

// Validate returns an error wrapping ErrInvalidTask that names the first
// invalid field of t.
func (t TileTask) Validate() error {
	if t.Depth != 8 && t.Depth != 16 {
		return fmt.Errorf("%w: invalid depth %d: expected 8 or 16", ErrInvalidTask, t.Depth)
	}
	if !t.Method.valid() {
		return fmt.Errorf("%w: invalid method %d: expected 0 (luma) or 1 (average)", ErrInvalidTask, uint8(t.Method))
	}
	if t.Width < 1 || t.Width > 0xffff {
		return fmt.Errorf("%w: invalid width %d: expected 1 to 65535", ErrInvalidTask, t.Width)
	}
	if t.Height < 1 || t.Height > 0xffff {
		return fmt.Errorf("%w: invalid height %d: expected 1 to 65535", ErrInvalidTask, t.Height)
	}
	// int64 keeps the product of two uint16 sides exact on 32-bit platforms.
	want := 3 * int64(t.Width) * int64(t.Height) * int64(bytesPerSample(t.Depth))
	if int64(len(t.RGB)) != want {
		return fmt.Errorf("%w: RGB is %d bytes, expected %d for %dx%d pixels at depth %d",
			ErrInvalidTask, len(t.RGB), want, t.Width, t.Height, t.Depth)
	}
	return nil
}

// OutputSize returns the length in bytes of the task's result.
func (t TileTask) OutputSize() int {
	return t.Width * t.Height * bytesPerSample(t.Depth)
}

// EncodeTask returns the payload of t. It panics if t.Validate fails, because
// only a bug can build an invalid task.
func EncodeTask(t TileTask) []byte {
	if err := t.Validate(); err != nil {
		panic("imagejob.EncodeTask: " + err.Error())
	}
	payload := make([]byte, HeaderSize+len(t.RGB))
	payload[0] = byte(t.Depth)
	payload[1] = byte(t.Method)
	put16(payload[2:], uint16(t.Width))
	put16(payload[4:], uint16(t.Height))
	copy(payload[HeaderSize:], t.RGB)
	return payload
}

// DecodeTask parses a task payload. It accepts only a payload of exactly the
// length that its header declares. The returned RGB shares memory with
// payload.
func DecodeTask(payload []byte) (TileTask, error) {
	if len(payload) < HeaderSize {
		return TileTask{}, fmt.Errorf("%w: payload is %d bytes, shorter than the %d-byte header",
			ErrInvalidTask, len(payload), HeaderSize)
	}
	t := TileTask{
		Depth:  int(payload[0]),
		Method: Method(payload[1]),
		Width:  int(get16(payload[2:])),
		Height: int(get16(payload[4:])),
		RGB:    payload[HeaderSize:],
	}
	if err := t.Validate(); err != nil {
		return TileTask{}, err
	}
	return t, nil
}

// Process runs one task on a worker node: it decodes payload, converts the
// tile and returns the gray samples. Every error wraps ErrInvalidTask.
func Process(payload []byte) ([]byte, error) {
	t, err := DecodeTask(payload)
	if err != nil {
		return nil, err
	}
	gray := make([]byte, t.OutputSize())
	if err := GrayTile(t.Method, t.Depth, t.RGB, gray); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTask, err)
	}
	return gray, nil
}
