"""Operations: health, readiness (metrics and logs come later)."""
