"""What each SMKI certificate looks like, byte for byte: builders, parser and conformance checker."""
