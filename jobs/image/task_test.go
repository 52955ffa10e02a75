package imagejob

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEncodeTaskLayout(t *testing.T) {
	tests := []struct {
		name string
		task TileTask
		want []byte
	}{
		{
			name: "depth 8 luma 2x1",
			task: TileTask{Depth: 8, Method: Luma, Width: 2, Height: 1, RGB: []byte{1, 2, 3, 4, 5, 6}},
			want: []byte{8, 0, 0, 2, 0, 1, 1, 2, 3, 4, 5, 6},
		},
		{
			name: "depth 16 average 1x1",
			task: TileTask{Depth: 16, Method: Average, Width: 1, Height: 1, RGB: []byte{0xa1, 0xa2, 0xb1, 0xb2, 0xc1, 0xc2}},
			want: []byte{16, 1, 0, 1, 0, 1, 0xa1, 0xa2, 0xb1, 0xb2, 0xc1, 0xc2},
		},
		{
			name: "width above 255",
			task: TileTask{Depth: 8, Method: Luma, Width: 0x0102, Height: 1, RGB: make([]byte, 3*0x0102)},
			want: append([]byte{8, 0, 0x01, 0x02, 0, 1}, make([]byte, 3*0x0102)...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EncodeTask(tt.task)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("EncodeTask = % x\nwant          % x", got, tt.want)
			}
			decoded, err := DecodeTask(got)
			if err != nil {
				t.Fatalf("DecodeTask: %v", err)
			}
			if decoded.Depth != tt.task.Depth || decoded.Method != tt.task.Method ||
				decoded.Width != tt.task.Width || decoded.Height != tt.task.Height ||
				!bytes.Equal(decoded.RGB, tt.task.RGB) {
				t.Errorf("DecodeTask = %+v, want %+v", decoded, tt.task)
			}
		})
	}
}

func TestEncodeTaskPanicsOnInvalidTask(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("EncodeTask did not panic on a task with depth 12")
		}
	}()
	EncodeTask(TileTask{Depth: 12, Width: 1, Height: 1, RGB: make([]byte, 3)})
}

func TestDecodeTaskErrors(t *testing.T) {
	header := func(depth, method byte, width, height uint16) []byte {
		return []byte{depth, method, byte(width >> 8), byte(width), byte(height >> 8), byte(height)}
	}
	tests := []struct {
		name    string
		payload []byte
		wantErr string
	}{
		{"empty", nil, "payload is 0 bytes, shorter than the 6-byte header"},
		{"short header", []byte{8, 0, 0, 1, 0}, "payload is 5 bytes, shorter than the 6-byte header"},
		{"depth 0", append(header(0, 0, 1, 1), 1, 2, 3), "invalid depth 0: expected 8 or 16"},
		{"depth 12", append(header(12, 0, 1, 1), 1, 2, 3), "invalid depth 12: expected 8 or 16"},
		{"method 2", append(header(8, 2, 1, 1), 1, 2, 3), "invalid method 2: expected 0 (luma) or 1 (average)"},
		{"width 0", header(8, 0, 0, 1), "invalid width 0: expected 1 to 65535"},
		{"height 0", header(8, 0, 1, 0), "invalid height 0: expected 1 to 65535"},
		{"no samples", header(8, 0, 1, 1), "RGB is 0 bytes, expected 3 for 1x1 pixels at depth 8"},
		{"one sample short", append(header(16, 1, 2, 1), make([]byte, 11)...), "RGB is 11 bytes, expected 12 for 2x1 pixels at depth 16"},
		{"one sample long", append(header(8, 0, 1, 2), make([]byte, 7)...), "RGB is 7 bytes, expected 6 for 1x2 pixels at depth 8"},
		{"largest sides", header(16, 0, 0xffff, 0xffff), "RGB is 0 bytes, expected 25769017350 for 65535x65535 pixels at depth 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeTask(tt.payload)
			if err == nil {
				t.Fatalf("DecodeTask(% x) succeeded", tt.payload)
			}
			if want := "invalid image.gray task: " + tt.wantErr; err.Error() != want {
				t.Errorf("error = %q\nwant      %q", err, want)
			}
			if !errors.Is(err, ErrInvalidTask) {
				t.Errorf("error does not match ErrInvalidTask")
			}
			if _, processErr := Process(tt.payload); processErr == nil || processErr.Error() != err.Error() {
				t.Errorf("Process error = %v, want the DecodeTask error", processErr)
			}
		})
	}
}

func TestDecodeTaskSharesPayload(t *testing.T) {
	payload := EncodeTask(TileTask{Depth: 8, Width: 1, Height: 1, RGB: []byte{1, 2, 3}})
	task, err := DecodeTask(payload)
	if err != nil {
		t.Fatal(err)
	}
	payload[HeaderSize] = 99
	if task.RGB[0] != 99 {
		t.Errorf("RGB is a copy, but DecodeTask documents that it shares the payload")
	}
}

func TestProcessOutput(t *testing.T) {
	tests := []struct {
		name string
		task TileTask
		want []byte
	}{
		{
			name: "luma depth 8",
			task: TileTask{Depth: 8, Method: Luma, Width: 3, Height: 1, RGB: []byte{255, 0, 0, 0, 255, 0, 0, 0, 255}},
			want: []byte{76, 150, 29},
		},
		{
			name: "average depth 8",
			task: TileTask{Depth: 8, Method: Average, Width: 1, Height: 2, RGB: []byte{255, 0, 0, 10, 20, 31}},
			want: []byte{85, 20},
		},
		{
			name: "luma depth 16",
			task: TileTask{Depth: 16, Method: Luma, Width: 1, Height: 1, RGB: []byte{0xff, 0xff, 0, 0, 0, 0}},
			want: []byte{0x4c, 0x8b}, // 19595
		},
		{
			name: "average depth 16",
			task: TileTask{Depth: 16, Method: Average, Width: 2, Height: 1, RGB: []byte{1, 0, 2, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}},
			want: []byte{0x02, 0x55, 0xff, 0xfe},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Process(EncodeTask(tt.task))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Process = % x, want % x", got, tt.want)
			}
		})
	}
}

func TestTileTaskValidateNamesField(t *testing.T) {
	err := TileTask{Depth: 8, Method: Luma, Width: 70000, Height: 1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "invalid width 70000") {
		t.Errorf("Validate error = %v, want one naming width 70000", err)
	}
}
