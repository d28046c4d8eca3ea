"""Tiny hand-written inputs of the ETL, with the awkward cases in them."""

import contextlib

# Movie 1's block is long enough that a 64-byte split starts inside it; line 3 of movie 2 is bad.
NETFLIX_RATINGS = """1:
1488844,3,2005-09-06
822109,5,2005-05-13
885013,4,2005-10-19
30878,4,2005-12-26
823519,3,2004-05-03
893988,3,2005-11-17
2:
2059652,4,2005-09-05
1488844,1,2005-10-18
not,a,line
30878,9,2005-01-01
"""

NETFLIX_RATINGS_PART_2 = """3:
1488844,2,2004-01-02
30878,5,2003-03-03
"""

# Latin-1 bytes (é), commas in a title, a NULL year.
NETFLIX_TITLES = "1,2003,Dinosaur Planet\n2,NULL,Isle of Man TT 2004, Review, Part 1\n3,1997,Café Society\n".encode("latin-1")

EXPECTED_NETFLIX = {
    (1488844, 1, 3.0), (822109, 1, 5.0), (885013, 1, 4.0), (30878, 1, 4.0), (823519, 1, 3.0), (893988, 1, 3.0),
    (2059652, 2, 4.0), (1488844, 2, 1.0), (1488844, 3, 2.0), (30878, 3, 5.0),
}

RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,"WHITE HANGING HEART T-LIGHT HOLDER",6,12/1/2010 8:26,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
536366,85123A,"WHITE HANGING HEART T-LIGHT HOLDER",2,12/2/2010 9:00,2.55,17850,United Kingdom
C536379,85123A,"WHITE HANGING HEART T-LIGHT HOLDER",-1,12/3/2010 9:41,2.55,17850,United Kingdom
536380,22423,"REGENCY CAKESTAND, 3 TIER",1,12/3/2010 10:00,12.75,13047,United Kingdom
536381,22423,"REGENCY CAKESTAND, 3 TIER",0,12/3/2010 10:00,12.75,13047,United Kingdom
536382,71053,WHITE METAL LANTERN,4,12/4/2010 11:00,3.39,,United Kingdom
536383,71053,WHITE METAL LANTERN,3,2011-01-05 12:00:00,3.39,13047,United Kingdom
"""


@contextlib.contextmanager
def tiny_splits(spark, size=64):
    """Spark reading files in splits of ``size`` bytes, so Netflix blocks straddle splits."""
    keys = {"spark.sql.files.maxPartitionBytes": str(size), "spark.sql.files.openCostInBytes": "0"}
    before = {key: spark.conf.get(key) for key in keys}
    for key, value in keys.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)


def small_shop(items=68, customers=40, seed=3):
    """An Online Retail file of a small shop: ``items`` stock codes, each bought by a handful of customers.

    No item gets anywhere near the tutorial's 25 buyers, as in the issue's 68-item shop.
    """
    import random

    chance = random.Random(seed)
    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    invoice = 600000
    for customer in range(customers):
        for item in chance.sample(range(items), 4):
            for day in range(1, chance.randint(1, 6) + 1):  # bought again on later days: counts 1 to 6
                invoice += 1
                lines.append(
                    f"{invoice},SKU{item:03d},ITEM {item},{chance.randint(1, 6)},"
                    f"12/{day}/2010 10:00,1.25,{13000 + customer},United Kingdom"
                )
    return "\n".join(lines) + "\n"
