/** Base class of every error nadir throws on purpose. */
export class NadirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A detector was used before `fit` (or `load`). */
export class NotFittedError extends NadirError {}

/** Input data is malformed: empty, ragged, non-finite, or of the wrong width. */
export class DataError extends NadirError {}

/** An option name or value is wrong. */
export class OptionError extends NadirError {}

/** A model file is truncated, corrupted, foreign, or from a newer format. */
export class ModelFileError extends NadirError {}
