//! Shared counters in the formats Curator and kazoo use, so Java and Python processes can count
//! on the same node:
//!
//! | constructor | format | shares the node with |
//! |---|---|---|
//! | [`Counter::shared_count`] | 4-byte big-endian | Curator `SharedCount`, kazoo `Counter(support_curator=True)` |
//! | [`Counter::atomic_long`] | 8-byte big-endian | Curator `DistributedAtomicLong` |
//! | [`Counter::kazoo`] | ASCII decimal | kazoo `Counter` (default) |
//!
//! # What is guaranteed
//!
//! - Every change is a compare-and-set on the node's version: [`Counter::try_set`] succeeds only
//!   if nobody wrote since the value was read, and [`Counter::add`] never loses or doubles an
//!   increment of another process. `add` retries a lost race at most
//!   [`max_attempts`](Counter::with_max_attempts) times, then returns
//!   [`CounterError::Contended`].
//! - Bytes of the wrong length or text that is not a number give
//!   [`CounterError::BadFormat`], never a panic or a guess.
//!
//! # What is not
//!
//! - A write that fails with `ConnectionLoss`/`OutcomeUnknown` may or may not have been applied; the error is
//!   returned, never retried (a retried `add` could count twice).
//! - [`Counter::changes`] reports the value after each change it is told about; quick changes
//!   may be coalesced into one item, and changes during a disconnect show up as one re-read.

mod format;

use futures::StreamExt;
use futures::stream::BoxStream;
use zk_client::{AddWatchMode, Client, CreateOptions, Error, EventType, PersistentEvent};

pub use format::CounterFormat;

use crate::ensure::create_with_parents;

/// Compare-and-set attempts of [`Counter::add`] by default.
///
/// ```
/// assert_eq!(zk_recipes::counter::DEFAULT_MAX_ATTEMPTS, 100);
/// ```
pub const DEFAULT_MAX_ATTEMPTS: u32 = 100;

/// What can go wrong with a counter.
///
/// ```no_run
/// use zk_recipes::counter::{Counter, CounterError};
/// # async fn demo(client: zk_client::Client) {
/// match Counter::shared_count(&client, "/c").add(1).await {
///     Ok(outcome) => println!("now {}", outcome.post),
///     Err(CounterError::BadFormat { detail, .. }) => eprintln!("not a counter: {detail}"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// The node's bytes are not a value of the counter's format.
    #[error("counter {path}: not a {format:?} value: {detail}")]
    BadFormat {
        /// The counter's path.
        path: String,
        /// The format the counter expects.
        format: CounterFormat,
        /// What is wrong.
        detail: String,
    },
    /// The value does not fit the format (an `Int32` counter past `i32`).
    #[error("counter {path}: {value} does not fit the counter's format")]
    OutOfRange {
        /// The counter's path.
        path: String,
        /// The value.
        value: i64,
    },
    /// Every compare-and-set attempt lost a race with another writer.
    #[error("counter {path}: {attempts} compare-and-set attempts lost to other writers")]
    Contended {
        /// The counter's path.
        path: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A ZooKeeper error (a `ConnectionLoss`/`OutcomeUnknown` on a write means the outcome is unknown).
    #[error(transparent)]
    Zk(#[from] Error),
}

/// A counter value with the node version it was read at (`None`: the node does not exist,
/// and the value is 0).
///
/// ```no_run
/// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
/// let seen = c.get().await?;
/// let exists = seen.version.is_some();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned {
    /// The value.
    pub value: i64,
    /// The node's data version, `None` when the node does not exist.
    pub version: Option<i32>,
}

/// The result of [`Counter::add`].
///
/// ```no_run
/// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
/// let outcome = c.add(5).await?;
/// assert_eq!(outcome.post, outcome.pre + 5);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOutcome {
    /// The value before the change.
    pub pre: i64,
    /// The value after the change.
    pub post: i64,
    /// Compare-and-set attempts it took.
    pub attempts: u32,
}

/// A counter stored in one node. A cheap handle: every call goes to the server.
///
/// ```no_run
/// use zk_recipes::counter::Counter;
///
/// # async fn demo(client: zk_client::Client) -> Result<(), zk_recipes::counter::CounterError> {
/// let hits = Counter::shared_count(&client, "/stats/hits");
/// let outcome = hits.add(1).await?;
/// println!("{} -> {}", outcome.pre, outcome.post);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Counter {
    client: Client,
    path: String,
    format: CounterFormat,
    max_attempts: u32,
}

impl Counter {
    /// A counter at `path` in `format`.
    ///
    /// ```no_run
    /// use zk_recipes::counter::{Counter, CounterFormat};
    /// # fn demo(client: zk_client::Client) {
    /// let c = Counter::new(&client, "/c", CounterFormat::Int64);
    /// # }
    /// ```
    pub fn new(client: &Client, path: &str, format: CounterFormat) -> Counter {
        Counter {
            client: client.clone(),
            path: path.to_owned(),
            format,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// A counter in Curator `SharedCount`'s format (4 bytes, big-endian), which kazoo's
    /// `Counter(support_curator=True)` also uses.
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let c = zk_recipes::counter::Counter::shared_count(&client, "/shared");
    /// # }
    /// ```
    pub fn shared_count(client: &Client, path: &str) -> Counter {
        Self::new(client, path, CounterFormat::Int32)
    }

    /// A counter in Curator `DistributedAtomicLong`'s format (8 bytes, big-endian).
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let c = zk_recipes::counter::Counter::atomic_long(&client, "/long");
    /// # }
    /// ```
    pub fn atomic_long(client: &Client, path: &str) -> Counter {
        Self::new(client, path, CounterFormat::Int64)
    }

    /// A counter in kazoo `Counter`'s default format (ASCII decimal).
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let c = zk_recipes::counter::Counter::kazoo(&client, "/kazoo-counter");
    /// # }
    /// ```
    pub fn kazoo(client: &Client, path: &str) -> Counter {
        Self::new(client, path, CounterFormat::Ascii)
    }

    /// At most `attempts` compare-and-set attempts per [`add`](Self::add) (at least 1).
    ///
    /// ```no_run
    /// # fn demo(client: zk_client::Client) {
    /// let c = zk_recipes::counter::Counter::atomic_long(&client, "/l").with_max_attempts(10);
    /// # }
    /// ```
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Counter {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The counter's path.
    ///
    /// ```no_run
    /// # fn demo(c: zk_recipes::counter::Counter) {
    /// println!("{}", c.path());
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The counter's format.
    ///
    /// ```no_run
    /// # fn demo(c: zk_recipes::counter::Counter) {
    /// println!("{:?}", c.format());
    /// # }
    /// ```
    pub fn format(&self) -> CounterFormat {
        self.format
    }

    /// The current value and version (0 and `None` when the node does not exist).
    ///
    /// ```no_run
    /// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
    /// let now = c.get().await?;
    /// println!("{} at version {:?}", now.value, now.version);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`CounterError::BadFormat`], connection errors.
    pub async fn get(&self) -> Result<Versioned, CounterError> {
        match self.client.get_data(&self.path).await {
            Ok((data, stat)) => Ok(Versioned {
                value: self.format.decode(&self.path, &data)?,
                version: Some(stat.version),
            }),
            Err(Error::NoNode) => Ok(Versioned {
                value: 0,
                version: None,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the node with `seed` if it does not exist (Curator's `SharedCount.start()`), and
    /// returns the current value either way.
    ///
    /// ```no_run
    /// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
    /// let now = c.ensure(100).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`get`](Self::get) and [`try_set`](Self::try_set).
    pub async fn ensure(&self, seed: i64) -> Result<Versioned, CounterError> {
        let current = self.get().await?;
        if current.version.is_none() {
            self.try_set(seed, current).await?;
            return self.get().await;
        }
        Ok(current)
    }

    /// Sets `value` if the node is still at `expected.version` (creates it if `expected` says
    /// it does not exist). Returns false when another writer got there first.
    ///
    /// ```no_run
    /// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
    /// let seen = c.get().await?;
    /// if !c.try_set(seen.value * 2, seen).await? {
    ///     println!("someone else changed it");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`CounterError::OutOfRange`], connection errors (`ConnectionLoss`/`OutcomeUnknown`: outcome unknown).
    pub async fn try_set(&self, value: i64, expected: Versioned) -> Result<bool, CounterError> {
        let data = self.format.encode(&self.path, value)?;
        let result = match expected.version {
            Some(version) => self
                .client
                .set_data(&self.path, &data, Some(version))
                .await
                .map(drop),
            None => create_with_parents(
                &self.client,
                &self.path,
                &data,
                &CreateOptions::persistent(),
            )
            .await
            .map(drop),
        };
        match result {
            Ok(()) => Ok(true),
            Err(Error::BadVersion | Error::NodeExists | Error::NoNode) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets `value` whatever the current value is (creating the node if needed).
    ///
    /// ```no_run
    /// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
    /// c.set(0).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`CounterError::Contended`] when the node keeps being created and deleted, and as
    /// [`try_set`](Self::try_set).
    pub async fn set(&self, value: i64) -> Result<(), CounterError> {
        self.update(|_| Ok(value)).await.map(drop)
    }

    /// Adds `delta` (negative to subtract) with compare-and-set, retrying lost races.
    ///
    /// ```no_run
    /// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
    /// let AddOutcome { post, .. } = c.add(-1).await?;
    /// # use zk_recipes::counter::AddOutcome;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`CounterError::Contended`] after `max_attempts` lost races,
    /// [`CounterError::OutOfRange`] on overflow, [`CounterError::BadFormat`], connection errors.
    pub async fn add(&self, delta: i64) -> Result<AddOutcome, CounterError> {
        let path = self.path.clone();
        self.update(move |v| {
            v.checked_add(delta).ok_or(CounterError::OutOfRange {
                path: path.clone(),
                value: v,
            })
        })
        .await
    }

    async fn update(
        &self,
        f: impl Fn(i64) -> Result<i64, CounterError>,
    ) -> Result<AddOutcome, CounterError> {
        for attempt in 1..=self.max_attempts {
            let seen = self.get().await?;
            let post = f(seen.value)?;
            if self.try_set(post, seen).await? {
                return Ok(AddOutcome {
                    pre: seen.value,
                    post,
                    attempts: attempt,
                });
            }
        }
        Err(CounterError::Contended {
            path: self.path.clone(),
            attempts: self.max_attempts,
        })
    }

    /// The counter's values from now on: the current value first, then the value after each
    /// change (a persistent watch on the node; re-read after every reconnect and after the
    /// watch's buffer overflowed). The stream ends
    /// when the session ends for good.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// # async fn demo(c: zk_recipes::counter::Counter) -> Result<(), zk_recipes::counter::CounterError> {
    /// let mut values = c.changes().await?;
    /// while let Some(v) = values.next().await {
    ///     println!("now {}", v?.value);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Connection errors while registering the watch. Items carry read errors.
    pub async fn changes(
        &self,
    ) -> Result<BoxStream<'static, Result<Versioned, CounterError>>, CounterError> {
        let watch = self
            .client
            .add_watch(&self.path, AddWatchMode::Persistent)
            .await?;
        let state = (self.clone(), watch, None::<Versioned>, true);
        Ok(
            futures::stream::unfold(state, |(counter, mut watch, last, mut read)| async move {
                loop {
                    if read {
                        let now = counter.get().await;
                        match now {
                            Ok(v) if Some(v) == last => {}
                            Ok(v) => return Some((Ok(v), (counter, watch, Some(v), false))),
                            Err(e) => return Some((Err(e), (counter, watch, last, false))),
                        }
                    }
                    read = match watch.next().await? {
                        PersistentEvent::Node(e) => matches!(
                            e.event_type,
                            EventType::NodeCreated
                                | EventType::NodeDataChanged
                                | EventType::NodeDeleted
                        ),
                        PersistentEvent::Reconnected { .. } | PersistentEvent::Overflow { .. } => {
                            true
                        }
                    };
                }
            })
            .boxed(),
        )
    }
}
