package imagejob

import (
	"fmt"
	"strings"
)

// Method selects the formula that turns an unpremultiplied R, G, B sample
// triple into one gray sample. All arithmetic is unsigned integer arithmetic,
// and ">>" is a logical right shift that discards the low bits.
//
// Luma is ITU-R BT.601 luma with the weights 0.299, 0.587 and 0.114 scaled to
// 19595, 38470 and 7471, which sum to 65536.
//
//   - At depth 8, Y = (19595*R*257 + 38470*G*257 + 7471*B*257 + 32768) >> 24.
//     Multiplying by 257 widens an 8-bit sample to 16 bits (0xAB becomes
//     0xABAB). The sum is at most 4294934528, so it fits in a uint32.
//     This is exactly what Go's color.GrayModel returns for an opaque
//     color.NRGBA, which a test checks for all 2^24 colors.
//   - At depth 16, Y = (19595*R + 38470*G + 7471*B + 32768) >> 16. The sum is
//     at most 4294934528, so it fits in a uint32. This is exactly what
//     color.Gray16Model returns for an opaque color.NRGBA64.
//
// Average is Y = (R + G + B) / 3 with the division rounding toward zero, at
// either depth.
//
// Both methods return V for a gray input R == G == B == V.
//
// Pillow and OpenCV use the same BT.601 weights but round differently. The
// 8-bit Luma formula scales the weighted sum by 257/256 and then truncates,
// because its added 32768 is only 1/512 of a level, while they round to
// nearest. Pillow's rgb2l in src/libImaging/Convert.c computes
// (19595*R + 38470*G + 7471*B + 0x8000) >> 16. It differs from Luma for
// 2,706,082 of the 2^24 colors (16.1%): Luma is one level darker for
// 1,353,109 of them and one level brighter for 1,352,973. OpenCV's
// RGB2Gray<uchar> in modules/imgproc/src/color_rgb.simd.hpp computes
// (9798*R + 19235*G + 3735*B + 16384) >> 15. It differs for 2,702,531
// colors: Luma is one level darker for 1,351,947 and one level brighter for
// 1,350,584. Neither differs by more than one level.
// TestLumaDiffersFromPillowAndOpenCV measures these figures.
type Method uint8

const (
	// Luma is ITU-R BT.601 luma, the default.
	Luma Method = 0
	// Average is the mean of R, G and B.
	Average Method = 1
)

// ParseMethod returns the Method that s names: "luma" (or "bt601") or
// "average", in any letter case.
func ParseMethod(s string) (Method, error) {
	switch strings.ToLower(s) {
	case "luma", "bt601":
		return Luma, nil
	case "average":
		return Average, nil
	}
	return 0, fmt.Errorf("invalid method %q: expected luma (or bt601) or average", s)
}

// String returns the name that ParseMethod accepts, or "Method(N)" for a value
// without a name.
func (m Method) String() string {
	switch m {
	case Luma:
		return "luma"
	case Average:
		return "average"
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

func (m Method) valid() bool {
	return m == Luma || m == Average
}

// GrayTile converts the RGB samples in rgb to gray samples in gray with the
// given method at depth 8 or 16. The layouts are those of Pixels.RGB and
// GrayPlane.Gray, so len(rgb) must be 3*len(gray). Method documents the
// formulas.
func GrayTile(method Method, depth int, rgb, gray []byte) error {
	if !method.valid() {
		return fmt.Errorf("invalid method %d: expected 0 (luma) or 1 (average)", uint8(method))
	}
	if depth != 8 && depth != 16 {
		return fmt.Errorf("invalid depth %d: expected 8 or 16", depth)
	}
	if len(rgb) != 3*len(gray) || len(gray)%bytesPerSample(depth) != 0 {
		return fmt.Errorf("RGB is %d bytes and gray is %d bytes at depth %d: expected RGB to be 3 times gray, in whole samples",
			len(rgb), len(gray), depth)
	}
	switch {
	case method == Luma && depth == 8:
		luma8(rgb, gray)
	case method == Luma:
		luma16(rgb, gray)
	case depth == 8:
		average8(rgb, gray)
	default:
		average16(rgb, gray)
	}
	return nil
}

func luma8(rgb, gray []byte) {
	for i := range gray {
		px := rgb[3*i : 3*i+3 : 3*i+3]
		r, g, b := uint32(px[0]), uint32(px[1]), uint32(px[2])
		gray[i] = uint8((19595*257*r + 38470*257*g + 7471*257*b + 1<<15) >> 24)
	}
}

func luma16(rgb, gray []byte) {
	for i := 0; i < len(gray); i += 2 {
		px := rgb[3*i : 3*i+6 : 3*i+6]
		r := uint32(px[0])<<8 | uint32(px[1])
		g := uint32(px[2])<<8 | uint32(px[3])
		b := uint32(px[4])<<8 | uint32(px[5])
		put16(gray[i:], uint16((19595*r+38470*g+7471*b+1<<15)>>16))
	}
}

func average8(rgb, gray []byte) {
	for i := range gray {
		px := rgb[3*i : 3*i+3 : 3*i+3]
		gray[i] = uint8((uint32(px[0]) + uint32(px[1]) + uint32(px[2])) / 3)
	}
}

func average16(rgb, gray []byte) {
	for i := 0; i < len(gray); i += 2 {
		px := rgb[3*i : 3*i+6 : 3*i+6]
		r := uint32(px[0])<<8 | uint32(px[1])
		g := uint32(px[2])<<8 | uint32(px[3])
		b := uint32(px[4])<<8 | uint32(px[5])
		put16(gray[i:], uint16((r+g+b)/3))
	}
}
