"""Photos as bytes and pixels: decoding, JPEG headers, on-device geometry, and the content-addressed store."""
