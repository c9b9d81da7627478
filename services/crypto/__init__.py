"""Personal data at rest: AES-GCM sealed fields and keyed blind indexes."""
