"""genrelab: music-genre research on GTZAN-style collections."""

__version__ = "0.1.0"

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)
