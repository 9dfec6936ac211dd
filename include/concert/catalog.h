/**
 * @file
 * @brief libconcert: concerts, schedules and seats, and loading a catalog.
 *
 * Lookups that a buyer makes take an ACTIVE queue token (rule: only admitted
 * buyers browse). Lists are allocated by the library in one block and freed
 * with their own *_free function; callers never free() library memory.
 * Every function here is safe to call from many threads on one db.
 */
#ifndef CONCERT_CATALOG_H
#define CONCERT_CATALOG_H

#include "common.h"

CONCERT_BEGIN_DECLS

/** Whether a concert is on sale. */
typedef enum concert_concert_status {
    CONCERT_STATUS_OPEN = 1,    /**< on sale */
    CONCERT_STATUS_PENDING = 2, /**< registered, not yet on sale */
    CONCERT_STATUS_CLOSED = 3   /**< not bookable */
} concert_concert_status;

/** One concert as a buyer sees it. */
typedef struct concert_concert {
    int64_t id;                     /**< the concert's id */
    int32_t status;                 /**< concert_concert_status */
    int32_t max_per_user;           /**< seats one buyer may hold plus own of
                                        this concert; 0: the db's
                                        max_holds_per_user applies */
    char title[CONCERT_TITLE_SIZE]; /**< NUL-terminated UTF-8 */
} concert_concert;

/** A list of concerts; free with concert_concert_list_free(). */
typedef struct concert_concert_list {
    size_t count;           /**< number of items */
    concert_concert *items; /**< count entries, in id order */
} concert_concert_list;

/** One performance (date and time) of a concert. */
typedef struct concert_schedule {
    int64_t id;              /**< the schedule's id */
    int64_t concert_id;      /**< whose performance */
    int64_t starts_at;       /**< ms since epoch */
    int64_t available_seats; /**< free now: unsold, no live hold */
} concert_schedule;

/** The schedules of one concert; free with concert_schedule_list_free(). */
typedef struct concert_schedule_list {
    int64_t concert_id;      /**< whose schedules */
    size_t count;            /**< number of items */
    concert_schedule *items; /**< in start-time order */
} concert_schedule_list;

/** One seat of a schedule. */
typedef struct concert_seat {
    int64_t number;                 /**< seat number, >= 1 */
    int64_t price;                  /**< points */
    char grade[CONCERT_GRADE_SIZE]; /**< NUL-terminated, e.g. "VIP", "R" */
} concert_seat;

/** The free seats of one schedule; free with concert_seat_list_free(). */
typedef struct concert_seat_list {
    int64_t schedule_id; /**< whose seats */
    size_t count;        /**< number of items */
    concert_seat *items; /**< in seat-number order */
} concert_seat_list;

/**
 * The OPEN concerts, in id order. token must be ACTIVE.
 * *out is the caller's; free it with concert_concert_list_free().
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, CONCERT_ETOKEN_NOT_ACTIVE,
 * storage errors.
 * @param[out] out receives the list (NULL on failure)
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_concert_list_get(concert_concert_list **out, concert_db *db,
                                            const char *token);
/** Free a list from concert_concert_list_get() or concert_admin_concert_list_get(). NULL is a no-op.
 * @param list the list, or NULL
 */
CONCERT_EXTERN void concert_concert_list_free(concert_concert_list *list);

/**
 * One OPEN concert into caller memory. token must be ACTIVE.
 * Errors: as concert_concert_list_get(), plus CONCERT_ECONCERT_NOT_FOUND and
 * CONCERT_ECONCERT_NOT_BOOKABLE (PENDING or CLOSED).
 * @param[out] out receives the concert
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @param concert_id which concert
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_concert_get(concert_concert *out, concert_db *db, const char *token,
                                       int64_t concert_id);

/**
 * The bookable schedules of an OPEN concert (now < starts_at + cutoff), each
 * with its count of free seats, in start-time order. token must be ACTIVE.
 * A concert with no schedules at all gives an empty list; one whose
 * schedules have all closed is CONCERT_EBOOKING_CLOSED.
 * Free *out with concert_schedule_list_free().
 * Errors: as concert_concert_get(), plus CONCERT_EBOOKING_CLOSED.
 * @param[out] out receives the list (NULL on failure)
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @param concert_id which concert
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_schedule_list_get(concert_schedule_list **out, concert_db *db,
                                             const char *token, int64_t concert_id);
/** Free a list from concert_schedule_list_get(). NULL is a no-op.
 * @param list the list, or NULL
 */
CONCERT_EXTERN void concert_schedule_list_free(concert_schedule_list *list);

/**
 * The free seats of a bookable schedule (neither sold nor under a live hold)
 * in seat-number order. token must be ACTIVE.
 * Free *out with concert_seat_list_free().
 * Errors: CONCERT_EINVAL, token errors, CONCERT_ESCHEDULE_NOT_FOUND,
 * CONCERT_ECONCERT_NOT_BOOKABLE, CONCERT_EBOOKING_CLOSED, storage errors.
 * @param[out] out receives the list (NULL on failure)
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @param schedule_id which performance
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_seats_available(concert_seat_list **out, concert_db *db,
                                           const char *token, int64_t schedule_id);
/** Free a list from concert_seats_available(). NULL is a no-op.
 * @param list the list, or NULL
 */
CONCERT_EXTERN void concert_seat_list_free(concert_seat_list *list);

/** A seat's state in a seat map. */
typedef enum concert_seat_status {
    CONCERT_SEAT_FREE = 1, /**< neither sold nor under a live hold */
    CONCERT_SEAT_HELD = 2, /**< under a live hold (someone's, maybe the caller's) */
    CONCERT_SEAT_SOLD = 3  /**< paid for */
} concert_seat_status;

/** One seat of a seat map with its state. */
typedef struct concert_seat_state {
    concert_seat seat;  /**< number, price and grade */
    int32_t status;     /**< concert_seat_status */
    int32_t reserved;   /**< reserved for a later field; 0 */
    int64_t held_until; /**< HELD: when the hold runs out; else 0 */
} concert_seat_state;

/** Every seat of one schedule; free with concert_seat_map_free(). */
typedef struct concert_seat_map {
    int64_t schedule_id;       /**< whose seats */
    size_t count;              /**< number of items */
    concert_seat_state *items; /**< every seat, in seat-number order */
} concert_seat_map;

/**
 * Every seat of a bookable schedule with its state, for drawing a seat map:
 * the FREE ones are exactly what concert_seats_available() lists at the
 * same moment, so concert_seat_list_version_get() labels a map too. It never says
 * whose a hold is (a buyer knows their own reservations). Same checks and
 * errors as concert_seats_available(). Free *out with
 * concert_seat_map_free().
 * @param[out] out receives the map (NULL on failure)
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @param schedule_id which performance
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_seat_map_get(concert_seat_map **out, concert_db *db, const char *token,
                                        int64_t schedule_id);
/** Free a map from concert_seat_map_get(). NULL is a no-op.
 * @param map the map, or NULL
 */
CONCERT_EXTERN void concert_seat_map_free(concert_seat_map *map);
/** "FREE", "HELD", "SOLD"; "UNKNOWN" for anything else. Static.
 * @param status a concert_seat_status
 * @return static name, never NULL.
 */
CONCERT_EXTERN const char *concert_seat_status_name(int status);

/**
 * The version of a free list: what a server that caches the rendered list
 * compares, and shows as an ETag. Two calls that report equal versions
 * (every field) saw equal lists, whichever process changed the store in
 * between; any hold, release, sale or hold expiry in scope gives a new one.
 * Compare all four fields; their values mean nothing else.
 */
typedef struct concert_list_version {
    int64_t epoch;           /**< the store's identity */
    int64_t changes;         /**< holds, releases and sales so far */
    int64_t expired_through; /**< the latest hold expiry the list reflects */
    int64_t past;            /**< schedules no longer listed (schedule lists) */
} concert_list_version;

/**
 * The version of concert_seats_available()'s list, with the same checks and
 * errors, in a few index reads (never a scan of seats). Read the version
 * BEFORE the list it will label: a change in between then gives the next
 * caller a different version, never a stale list under a current one.
 * The token check of this call and of the listing calls above may be
 * answered from the db's memory of tokens it saw ACTIVE within
 * queue_refresh_ms (they only read; holds and payments always check the
 * store).
 * @param[out] out receives the version
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @param schedule_id which performance
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_seat_list_version_get(concert_list_version *out, concert_db *db,
                                                 const char *token, int64_t schedule_id);

/** The same for concert_schedule_list_get()'s list (free counts included).
 * @param[out] out receives the version
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @param concert_id which concert
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_schedule_list_version_get(concert_list_version *out, concert_db *db,
                                                     const char *token, int64_t concert_id);

/* ---- Catalog loading (administration and import; no token) ---- */

/** A user to create, with an opening balance. */
typedef struct concert_catalog_user {
    int64_t id;       /**< >= 1 */
    const char *name; /**< 1..CONCERT_NAME_SIZE-1 bytes */
    int64_t points;   /**< opening balance, 0..2^53-1 */
} concert_catalog_user;

/** Seats from..to of one grade and price. */
typedef struct concert_catalog_seat_range {
    int64_t from;      /**< first seat number, >= 1 */
    int64_t to;        /**< last seat number, >= from */
    const char *grade; /**< 1..CONCERT_GRADE_SIZE-1 bytes */
    int64_t price;     /**< points, 0..2^53-1 */
} concert_catalog_seat_range;

/** A performance to create, with its seats. */
typedef struct concert_catalog_schedule {
    int64_t id;                              /**< >= 1 */
    int64_t starts_at;                       /**< ms since epoch */
    const concert_catalog_seat_range *seats; /**< seat_range_count ranges, not overlapping */
    size_t seat_range_count;                 /**< number of seat ranges */
} concert_catalog_schedule;

/** A concert to create, with its schedules. */
typedef struct concert_catalog_concert {
    int64_t id;                                /**< >= 1 */
    const char *title;                         /**< 1..CONCERT_TITLE_SIZE-1 bytes */
    int32_t status;                            /**< concert_concert_status */
    int32_t max_per_user;                      /**< version 2 (was reserved, must be 0 in
                                        version 1): 0 = no per-concert limit,
                                        else 1..CONCERT_ORDER_MAX: a buyer's
                                        live holds plus paid seats of this
                                        concert stay at or below it (it
                                        replaces max_holds_per_user for holds
                                        on this concert) */
    const concert_catalog_schedule *schedules; /**< schedule_count schedules */
    size_t schedule_count;                     /**< number of schedules */
} concert_catalog_concert;

/** The catalog version these headers describe.
 * 2: concert_catalog_concert.max_per_user (version 1 catalogs still load,
 * their concerts' reserved field must be 0). A version of 0 or one newer than
 * this library's is CONCERT_EINVAL. */
#define CONCERT_CATALOG_VERSION 2

/** Everything concert_catalog_load() creates in one call. */
typedef struct concert_catalog {
    unsigned int version;                    /**< CONCERT_CATALOG_VERSION */
    const concert_catalog_user *users;       /**< user_count users to create */
    size_t user_count;                       /**< number of users */
    const concert_catalog_concert *concerts; /**< concert_count concerts to create */
    size_t concert_count;                    /**< number of concerts */
} concert_catalog;

/** Most seats one schedule may have. */
#define CONCERT_MAX_SEATS_PER_SCHEDULE 1000000

/**
 * Load users, concerts, schedules and seats, all or nothing. Nothing in
 * catalog is kept after the call. Opening points are written to the ledger
 * as a CHARGE entry so that every balance equals the sum of its ledger.
 * Errors (the message names the offending place, e.g.
 * "concerts[0].schedules[1].seats[0].to: must be >= from"):
 * CONCERT_EINVAL (bad field, duplicate id in the catalog, overlapping seat
 * ranges, too many seats), CONCERT_ECONFLICT (an id already in the store),
 * storage errors. On any error the store is unchanged.
 * @param db an open handle
 * @param catalog what to create; not kept after the call
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_catalog_load(concert_db *db, const concert_catalog *catalog);

/** Static name of a status ("OPEN", "PENDING", "CLOSED"); "UNKNOWN" otherwise.
 * @param status a concert_concert_status
 * @return static name; "UNKNOWN" otherwise.
 */
CONCERT_EXTERN const char *concert_concert_status_name(int status);
/** Parse "OPEN"/"PENDING"/"CLOSED" (exact case); 0 if unknown.
 * @param name the name to parse
 * @return the concert_concert_status, or 0 if name is unknown or NULL.
 */
CONCERT_EXTERN int concert_concert_status_from_name(const char *name);

CONCERT_END_DECLS

#endif
