"""The tiny dataset plus two movies discovery needs: one never rated with genres, one rated last."""

from tests.support.tiny_data import write_tiny_dataset

UNSEEN_ACTION = 14  # genres but no ratings: its similar movies come from genres
FRESH_ROMANCE = 15  # rated by two romance fans after every other rating: the newest movie
FRESH_TIMESTAMP = 10**9

EXTRA_MOVIES = f"""{UNSEEN_ACTION},Unseen Action (2001),Action|Thriller
{FRESH_ROMANCE},Fresh Romance (2020),Romance
"""


def write_discovery_dataset(directory):
    extra = "".join(f"{user},{FRESH_ROMANCE},4.0,{FRESH_TIMESTAMP + user}\n" for user in (11, 12))
    write_tiny_dataset(directory, extra)
    with open(directory / "movies.csv", "a", encoding="utf-8") as movies:
        movies.write(EXTRA_MOVIES)
    return directory
