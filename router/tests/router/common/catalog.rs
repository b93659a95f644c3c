//! The "catalog" fixture: three subgraphs for the federation features the shop lacks —
//! an entity interface with an `@interfaceObject` in another subgraph, a union and an
//! interface whose members get fields from other subgraphs, `@override`, `@inaccessible`
//! (a field and an enum value), a nested compound key, a `resolvable: false` reference,
//! a second key with null values, and `@shareable` fields both subgraphs can serve.

use async_graphql::{
    EmptyMutation, EmptySubscription, Enum, ID, InputObject, Interface, Object, SDLExportOptions,
    Schema, SimpleObject, Union,
};

// ---------------------------------------------------------------- media

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum Format {
    Hardcover,
    Paperback,
    /// Never shown to clients.
    #[graphql(inaccessible)]
    Draft,
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub struct Book {
    pub id: ID,
    pub title: String,
    pub pages: i32,
    /// A second key; some books have none.
    pub isbn: Option<String>,
    pub format: Option<Format>,
    #[graphql(skip)]
    pub author_id: Option<String>,
}

#[async_graphql::ComplexObject]
impl Book {
    async fn author(&self) -> Option<Author> {
        self.author_id.as_ref().map(|id| author(id))
    }
    /// Editions are owned by the people subgraph; media can only reference them.
    async fn editions(&self) -> Vec<EditionRef> {
        (1..=2)
            .map(|number| EditionRef {
                book: BookIdRef {
                    id: self.id.clone(),
                },
                number,
            })
            .collect()
    }
}

#[derive(Clone, SimpleObject)]
pub struct Movie {
    pub id: ID,
    pub title: String,
    pub minutes: i32,
}

#[derive(Clone, SimpleObject)]
pub struct Author {
    pub id: ID,
    /// Moved to the people subgraph with `@override`; media's answer is never used.
    pub name: String,
}

fn author(id: &str) -> Author {
    Author {
        id: ID(id.to_owned()),
        name: format!("media's author {id}"),
    }
}

#[derive(Clone, SimpleObject)]
#[graphql(name = "BookId")]
pub struct BookIdRef {
    pub id: ID,
}

/// A reference to an edition: the key only, resolved by the people subgraph.
#[derive(Clone, SimpleObject)]
#[graphql(name = "Edition", unresolvable = "book { id } number")]
pub struct EditionRef {
    pub book: BookIdRef,
    pub number: i32,
}

#[derive(Interface, Clone)]
#[graphql(field(name = "id", ty = "&ID"), field(name = "title", ty = "&String"))]
pub enum Media {
    Book(Book),
    Movie(Movie),
}

#[derive(Union, Clone)]
pub enum SearchResult {
    Book(Book),
    Movie(Movie),
    Author(Author),
}

pub fn books() -> Vec<Book> {
    vec![
        Book {
            id: "b1".into(),
            title: "Dune".into(),
            pages: 412,
            isbn: Some("isbn-1".into()),
            format: Some(Format::Hardcover),
            author_id: Some("a1".into()),
        },
        Book {
            id: "b2".into(),
            title: "Notes".into(),
            pages: 12,
            isbn: None,
            format: Some(Format::Draft),
            author_id: None,
        },
    ]
}

pub fn movies() -> Vec<Movie> {
    vec![Movie {
        id: "m1".into(),
        title: "Alien".into(),
        minutes: 117,
    }]
}

fn all_media() -> Vec<Media> {
    books()
        .into_iter()
        .map(Media::Book)
        .chain(movies().into_iter().map(Media::Movie))
        .collect()
}

pub struct MediaQuery;

#[Object(name = "Query")]
impl MediaQuery {
    async fn media(&self) -> Vec<Media> {
        all_media()
    }

    async fn search(&self, term: String) -> Vec<SearchResult> {
        let _ = term;
        vec![
            SearchResult::Movie(movies()[0].clone()),
            SearchResult::Author(author("a1")),
            SearchResult::Book(books()[0].clone()),
        ]
    }

    /// Hidden from the API: only other subgraphs' plans could use it.
    #[graphql(inaccessible)]
    async fn secret(&self) -> String {
        "hidden".into()
    }

    async fn books(&self) -> Vec<Book> {
        books()
    }

    #[graphql(entity)]
    async fn find_media_by_id(&self, id: ID) -> Option<Media> {
        all_media().into_iter().find(|m| match m {
            Media::Book(b) => b.id == id,
            Media::Movie(m) => m.id == id,
        })
    }

    #[graphql(entity)]
    async fn find_book_by_id(&self, id: ID) -> Option<Book> {
        books().into_iter().find(|b| b.id == id)
    }

    #[graphql(entity)]
    async fn find_book_by_isbn(&self, isbn: String) -> Option<Book> {
        books()
            .into_iter()
            .find(|b| b.isbn.as_deref() == Some(isbn.as_str()))
    }

    #[graphql(entity)]
    async fn find_movie_by_id(&self, id: ID) -> Option<Movie> {
        movies().into_iter().find(|m| m.id == id)
    }

    #[graphql(entity)]
    async fn find_author_by_id(&self, id: ID) -> Author {
        author(&id)
    }
}

pub fn media_schema() -> Schema<MediaQuery, EmptyMutation, EmptySubscription> {
    Schema::build(MediaQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- ratings

/// Every media item's rating, without knowing books from movies (`@interfaceObject`).
#[derive(SimpleObject)]
#[graphql(name = "Media", interface_object)]
pub struct MediaRating {
    pub id: ID,
    pub rating: i32,
}

pub struct RatingsQuery;

#[Object(name = "Query")]
impl RatingsQuery {
    /// The best rated media: the router learns their concrete types from media.
    async fn top_rated(&self) -> Vec<MediaRating> {
        vec![MediaRating {
            id: "m1".into(),
            rating: 5,
        }]
    }

    #[graphql(entity)]
    async fn find_media_by_id(&self, id: ID) -> MediaRating {
        let rating = match id.as_str() {
            "b1" => 4,
            "m1" => 5,
            _ => 1,
        };
        MediaRating { id, rating }
    }
}

pub fn ratings_schema() -> Schema<RatingsQuery, EmptyMutation, EmptySubscription> {
    Schema::build(RatingsQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

// ---------------------------------------------------------------- people

#[derive(SimpleObject)]
#[graphql(name = "Author")]
pub struct PeopleAuthor {
    pub id: ID,
    #[graphql(override_from = "media")]
    pub name: String,
    pub country: String,
}

#[derive(InputObject)]
#[graphql(name = "BookIdInput")]
pub struct BookIdKey {
    pub id: ID,
}

#[derive(SimpleObject)]
#[graphql(name = "BookId")]
pub struct PeopleBookId {
    pub id: ID,
}

/// Owned here, keyed by the nested compound key `book { id } number`.
#[derive(SimpleObject)]
#[graphql(name = "Edition")]
pub struct Edition {
    pub book: PeopleBookId,
    pub number: i32,
    pub publisher: String,
}

/// Book as people knows it: by ISBN only.
#[derive(SimpleObject)]
#[graphql(name = "Book")]
pub struct PeopleBook {
    pub isbn: String,
    pub review_count: Option<i32>,
}

pub struct PeopleQuery;

#[Object(name = "Query")]
impl PeopleQuery {
    async fn authors(&self) -> Vec<PeopleAuthor> {
        vec![PeopleAuthor {
            id: "a1".into(),
            name: "Frank Herbert".into(),
            country: "US".into(),
        }]
    }

    #[graphql(entity)]
    async fn find_author_by_id(&self, id: ID) -> PeopleAuthor {
        PeopleAuthor {
            name: if id.as_str() == "a1" {
                "Frank Herbert".into()
            } else {
                format!("author {}", id.as_str())
            },
            country: "US".into(),
            id,
        }
    }

    #[graphql(entity)]
    async fn find_edition(&self, book: BookIdKey, number: i32) -> Edition {
        Edition {
            publisher: format!("{} press #{number}", book.id.as_str()),
            book: PeopleBookId { id: book.id },
            number,
        }
    }

    #[graphql(entity)]
    async fn find_book_by_isbn(&self, isbn: String) -> PeopleBook {
        PeopleBook {
            review_count: Some(isbn.len() as i32),
            isbn,
        }
    }
}

pub fn people_schema() -> Schema<PeopleQuery, EmptyMutation, EmptySubscription> {
    Schema::build(PeopleQuery, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
}

/// Every catalog subgraph's SDL, as `_service { sdl }` serves it.
pub fn sdls() -> Vec<(&'static str, String)> {
    let opts = || SDLExportOptions::new().federation();
    vec![
        ("media", media_schema().sdl_with_options(opts())),
        ("ratings", ratings_schema().sdl_with_options(opts())),
        ("people", people_schema().sdl_with_options(opts())),
    ]
}
