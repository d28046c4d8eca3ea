"""The tiny hand-written dataset most tests use: two taste clusters with known answers."""

TINY_PARAMS = {  # what the shared tiny model trains with
    "rank": 4, "iterations": 15, "reg_param": 0.05, "seed": 7, "ranking_rank": 4, "ranking_iterations": 10,
}

ACTION = [1, 2, 3, 4, 5, 6]
ROMANCE = [7, 8, 9, 10, 11, 12]
UNRATED_MOVIE = 13
ACTION_FANS = range(1, 11)
ROMANCE_FANS = range(11, 21)

TINY_MOVIES = """movieId,title,genres
1,"Great Escape, The (1963)",Action|Adventure
2,Die Hard (1988),Action
3,Heat (1995),Action|Crime
4,Speed (1994),Action
5,"Rock, The (1996)",Action
6,Ronin (1998),Action
7,"Say ""Anything"" (1989)",Romance
8,Notting Hill (1999),Romance
9,Amélie (2001),Romance|Comedy
10,Casablanca (1942),Romance|Drama
11,Titanic (1997),Romance
12,Ghost (1990),Romance
13,Never Rated (2000),(no genres listed)
"""


def tiny_ratings():
    """Two taste clusters: fans love their genre and dislike the other.

    Fan ``u`` leaves one movie of its own genre unrated, so that movie is the known
    answer of its top-1, and rates four movies of the other genre low.
    """
    rows = []
    for fans, liked, disliked in ((ACTION_FANS, ACTION, ROMANCE), (ROMANCE_FANS, ROMANCE, ACTION)):
        for user in fans:
            skipped = liked[user % len(liked)]
            for movie in liked:
                if movie != skipped:
                    rows.append((user, movie, 4.5 + 0.5 * ((user + movie) % 2)))
            for movie in disliked[user % 3: user % 3 + 4]:
                rows.append((user, movie, 1.0 + 0.5 * ((user + movie) % 2)))
    return rows


def skipped_movie(user):
    liked = ACTION if user in ACTION_FANS else ROMANCE
    return liked[user % len(liked)]


def write_tiny_dataset(directory, extra_rating_lines=""):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "movies.csv").write_text(TINY_MOVIES, encoding="utf-8")
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{u},{m},{r},{1000 + i}" for i, (u, m, r) in enumerate(tiny_ratings())]
    (directory / "ratings.csv").write_text("\n".join(lines) + "\n" + extra_rating_lines, encoding="utf-8")
    return directory
