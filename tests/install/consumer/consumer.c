/* Built against an installed libconcert by tests/install/run.sh. */
#include <concert/concert.h>
#include <stdio.h>

int main(void)
{
    concert_db *db = NULL;
    concert_token_info t;
    int rc;

    if (concert_version_number() != CONCERT_VERSION_NUMBER) {
        fprintf(stderr, "header/library version mismatch\n");
        return 1;
    }
    if ((rc = concert_db_open(&db, "memory:", NULL)) != 0) {
        fprintf(stderr, "open: %s\n", concert_error_last()->message);
        return 1;
    }
    rc = concert_queue_issue(&t, db, 1);
    concert_db_close(db);
    if (rc != CONCERT_EUSER_NOT_FOUND) {
        fprintf(stderr, "expected USER_NOT_FOUND, got %s\n", concert_error_name(rc));
        return 1;
    }
    printf("consumer ok: libconcert %s\n", concert_version_string());
    return 0;
}
