"""File storage: blob stores (local disk, S3-compatible), signed URLs and ``ctx.storage``."""
