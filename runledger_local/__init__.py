"""The local cloud: runs the real template offline on moto."""
