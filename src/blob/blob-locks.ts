import { Injectable } from '@nestjs/common';
import { KeyedMutex } from '../common/concurrency/keyed-mutex';

/**
 * Serialises, per digest, the two things that must not interleave in one process: an upload
 * committing a blob (bytes into place, then its metadata row) and GC deleting that blob
 * (metadata row, then bytes). Without it GC could delete the file between an upload's
 * "the file is already there" check and its metadata commit, leaving a row without bytes.
 * Across replicas the database-level GC lock and the re-check in GC's transaction take over.
 */
@Injectable()
export class BlobLocks extends KeyedMutex {}
