/**
 * @file
 * @brief libconcert: fair, safe concert ticket sales.
 *
 * The one header applications include. See README.md for a tour and
 * include/concert/sys/storage.h for writing a storage backend.
 */
#ifndef CONCERT_H
#define CONCERT_H

#include "common.h"
#include "errors.h"
#include "options.h"
#include "db.h"
#include "queue.h"
#include "catalog.h"
#include "catalog_json.h"
#include "booking.h"
#include "points.h"
#include "admin.h"

#endif
