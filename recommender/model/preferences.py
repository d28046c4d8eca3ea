"""How a dataset's values become the ranking model's preferences, by the kind of data.

Ratings (MovieLens) say "liked" only above the ranking shift (3 of 5 stars); purchase or
view counts are preferences as they are: a shop where each customer bought each item once
has every value at 1, which a shift of 3 would turn into no preference at all (nothing to
train the ranking model on). For such data the shift is 0, so the preference is the count.
"""

import dataclasses
import logging

log = logging.getLogger(__name__)

IMPLICIT_RATING_SHIFT = 0.0  # counts: preference = the count itself


def params_for_data(params, implicit):
    """``params`` (ModelParams) with the ranking shift the data's kind needs (``implicit``: counts)."""
    if not implicit or params.ranking_rating_shift == IMPLICIT_RATING_SHIFT:
        return params
    log.info("implicit data (counts): ranking preference is the count itself (shift %g, not %g)",
             IMPLICIT_RATING_SHIFT, params.ranking_rating_shift)
    return dataclasses.replace(params, ranking_rating_shift=IMPLICIT_RATING_SHIFT)
