//! Email templates: one pair of files per kind under the templates folder,
//! `<kind>.txt` (blocks `subject` and `body`, plain text) and `<kind>.html` (extends
//! `layout.html`, HTML-escaped), rendered with minijinja (Jinja2 syntax).
//!
//! Sources are cached in the store (Redis in production) under the file's fingerprint
//! (modification time and size): a changed file has a new fingerprint, so the next render
//! reads it again and replaces the cached copy. Compiled templates are kept per process
//! under the same fingerprints.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::UNIX_EPOCH,
};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::{
    domain::NotificationKind,
    storage::{CachedTemplate, NotificationStore},
};

const LAYOUT: &str = "layout.html";

/// A rendered email, before addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name} cannot be read: {source}")]
    Missing {
        name: String,
        source: std::io::Error,
    },
    #[error("template {name} is invalid: {source}")]
    Invalid {
        name: String,
        source: minijinja::Error,
    },
    #[error("template cache unavailable: {0:#}")]
    Cache(anyhow::Error),
}

struct Compiled {
    fingerprints: Vec<String>,
    env: Arc<Environment<'static>>,
}

/// Renders each kind's email from its templates.
pub struct Templates {
    dir: PathBuf,
    store: Arc<dyn NotificationStore>,
    compiled: Mutex<HashMap<NotificationKind, Arc<Compiled>>>,
}

impl Templates {
    pub fn new(dir: impl Into<PathBuf>, store: Arc<dyn NotificationStore>) -> Self {
        Self {
            dir: dir.into(),
            store,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// Checks that every kind's templates exist and compile (at start-up).
    pub async fn check_all(&self) -> Result<(), TemplateError> {
        for kind in NotificationKind::ALL {
            self.environment(kind).await?;
        }
        Ok(())
    }

    /// Renders `kind`'s email with `context`.
    pub async fn render(
        &self,
        kind: NotificationKind,
        context: &impl Serialize,
    ) -> Result<RenderedEmail, TemplateError> {
        let env = self.environment(kind).await?;
        let (text_name, html_name) = names(kind);
        let invalid = |name: &str| {
            let name = name.to_owned();
            move |source| TemplateError::Invalid { name, source }
        };
        let context = Value::from(minijinja::value::Serde(context));
        let mut captured = env
            .get_template(&text_name)
            .and_then(|t| t.render_captured(context.clone()))
            .map_err(invalid(&text_name))?;
        let (subject, body) = captured
            .with_state_mut(|state| {
                Ok::<_, minijinja::Error>((
                    state.render_block("subject")?,
                    state.render_block("body")?,
                ))
            })
            .map_err(invalid(&text_name))?;
        let html = env
            .get_template(&html_name)
            .and_then(|t| t.render(context))
            .map_err(invalid(&html_name))?;
        Ok(RenderedEmail {
            // A subject is one line, whatever the template's whitespace.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: format!("{}\n", body.trim()),
            html,
        })
    }

    /// The compiled templates of `kind`, recompiled when any of its files changed.
    async fn environment(
        &self,
        kind: NotificationKind,
    ) -> Result<Arc<Environment<'static>>, TemplateError> {
        let (text_name, html_name) = names(kind);
        let files = [text_name, html_name, LAYOUT.to_owned()];
        let mut fingerprints = Vec::with_capacity(files.len());
        for name in &files {
            fingerprints.push(self.fingerprint(name).await?);
        }
        if let Some(compiled) = self.cached_compiled(kind)
            && compiled.fingerprints == fingerprints
        {
            return Ok(compiled.env.clone());
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, fingerprint) in files.iter().zip(&fingerprints) {
            let source = self.source(name, fingerprint).await?;
            env.add_template_owned(name.clone(), source)
                .map_err(|source| TemplateError::Invalid {
                    name: name.clone(),
                    source,
                })?;
        }
        let env = Arc::new(env);
        if let Ok(mut compiled) = self.compiled.lock() {
            compiled.insert(
                kind,
                Arc::new(Compiled {
                    fingerprints,
                    env: env.clone(),
                }),
            );
        }
        Ok(env)
    }

    fn cached_compiled(&self, kind: NotificationKind) -> Option<Arc<Compiled>> {
        self.compiled.lock().ok()?.get(&kind).cloned()
    }

    async fn fingerprint(&self, name: &str) -> Result<String, TemplateError> {
        let meta = tokio::fs::metadata(self.dir.join(name))
            .await
            .map_err(|source| TemplateError::Missing {
                name: name.to_owned(),
                source,
            })?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(format!("{modified}:{}", meta.len()))
    }

    /// The source of `name` as of `fingerprint`: from the cache if it holds that version,
    /// otherwise from the file (and the cache is updated).
    async fn source(&self, name: &str, fingerprint: &str) -> Result<String, TemplateError> {
        let cached = self
            .store
            .cached_template(name)
            .await
            .map_err(TemplateError::Cache)?;
        if let Some(cached) = cached
            && cached.fingerprint == fingerprint
        {
            return Ok(cached.source);
        }
        let source = tokio::fs::read_to_string(self.dir.join(name))
            .await
            .map_err(|source| TemplateError::Missing {
                name: name.to_owned(),
                source,
            })?;
        metrics::counter!("notification_template_loads_total").increment(1);
        tracing::info!(template = name, "template (re)loaded from its file");
        self.store
            .cache_template(
                name,
                &CachedTemplate {
                    fingerprint: fingerprint.to_owned(),
                    source: source.clone(),
                },
            )
            .await
            .map_err(TemplateError::Cache)?;
        Ok(source)
    }
}

fn names(kind: NotificationKind) -> (String, String) {
    let base = kind.template_name();
    (format!("{base}.txt"), format!("{base}.html"))
}
