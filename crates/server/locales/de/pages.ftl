# proofkey's pages, German. Missing messages fall back to English.

## Shared

signed-in-as = Angemeldet als { $account }
technical-details = Technische Details
home-link = Zur Startseite

## Sign in

login-title = Anmelden
login-subtitle = um mit { $client } fortzufahren
login-username = Benutzername
login-password = Passwort
login-submit = Anmelden
login-invalid = Benutzername und Passwort passen nicht zusammen. Prüfen Sie beides und versuchen Sie es erneut.
login-address-blocked = Aus Ihrem Netzwerk kamen zu viele fehlgeschlagene Anmeldungen. Warten Sie einige Minuten und versuchen Sie es dann erneut.
login-busy = Der Dienst ist gerade ausgelastet. Warten Sie einen Moment und versuchen Sie es dann erneut.

## Consent

consent-title = { $client } Zugriff auf Ihr Konto erlauben?
consent-title-metadata = Einer Anwendung von { $host } Zugriff auf Ihr Konto erlauben?
consent-intro = { $client } bittet um diese Berechtigungen:
consent-intro-none = { $client } möchte Ihr Konto verwenden.
consent-resources = Sie werden hier verwendet:
consent-destination = Nach Ihrer Entscheidung werden Sie zu { $host } weitergeleitet.
consent-destination-local = Nach Ihrer Entscheidung werden Sie zu einer Anwendung auf diesem Gerät zurückgeleitet.
consent-not-you = Nicht Sie?
consent-switch = Anderes Konto verwenden
consent-allow = Erlauben
consent-deny = Ablehnen
consent-unverified = Diese Anwendung ist nicht überprüft: Sie beschreibt sich unter { $client_id } und nennt sich „{ $client }“. Erlauben Sie den Zugriff nur, wenn Sie { $host } vertrauen.
consent-self-registered = Diese Anwendung hat sich selbst bei diesem Dienst registriert; niemand hier hat geprüft, wer sie betreibt. Erlauben Sie den Zugriff nur, wenn Sie sie selbst gestartet haben.
consent-client-id = Anwendungs-ID
consent-redirect-uri = Rücksprungadresse

## Scopes

scope-openid = Bestätigen, wer Sie sind
scope-profile = Ihren Namen und Benutzernamen sehen
scope-email = Ihre E-Mail-Adresse sehen
scope-offline_access = Zugriff behalten, während Sie abwesend sind

## Connect a device

device-title = Gerät verbinden
device-intro = Geben Sie den Code ein, den Ihr Gerät anzeigt.
device-code = Code
device-continue = Weiter
device-confirm-title = { $client } verbinden?
device-confirm-title-metadata = Eine Anwendung von { $host } verbinden?
device-confirm-intro = Ein Gerät mit { $client } bittet um diese Berechtigungen:
device-confirm-intro-none = Ein Gerät mit { $client } möchte Ihr Konto verwenden.
device-check-code = Erlauben Sie das nur, wenn Sie es selbst gestartet haben und Ihr Gerät den Code { $code } anzeigt.
device-sign-in-first = Melden Sie sich zuerst an.
device-code-invalid = Dieser Code ist ungültig oder abgelaufen. Prüfen Sie den Code auf Ihrem Gerät und versuchen Sie es erneut.
device-code-too-many = Aus Ihrem Netzwerk kamen zu viele falsche Codes. Warten Sie einige Minuten und versuchen Sie es dann erneut.
device-connected-title = Gerät verbunden
device-connected = Sie können zu Ihrem Gerät zurückkehren.
device-denied-title = Anfrage abgelehnt
device-denied = Das Gerät wurde nicht verbunden. Sie können diese Seite schließen.
device-invalid-title = Code ungültig
device-invalid = Dieser Code ist ungültig oder wartet nicht mehr. Beginnen Sie auf Ihrem Gerät von vorn.
device-too-many-title = Zu viele Versuche

## Sign out

logout-title = Abmelden?
logout-asks = { $client } möchte Sie von { $product } abmelden.
logout-question = Möchten Sie sich von { $product } abmelden?
logout-confirm = Abmelden
logout-cancel = Abbrechen
logout-done-title = Abgemeldet
logout-done = Sie sind abgemeldet. Sie können diese Seite schließen.
logout-cancelled-title = Weiterhin angemeldet
logout-cancelled = Sie sind weiterhin angemeldet. Sie können diese Seite schließen.

## Problems

error-title = Etwas ist schiefgegangen
error-authorize = Die Anwendung, die Sie hierher geschickt hat, hat etwas verlangt, das dieser Dienst nicht erfüllen kann. Zum Schutz Ihres Kontos wurden Sie nicht zu ihr zurückgeleitet. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut; wenn das Problem bleibt, wenden Sie sich an ihre Betreiber.
error-logout = Die Abmeldung konnte nicht ausgeführt werden; Sie sind möglicherweise noch angemeldet. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut.
error-form = Dieses Formular konnte nicht verarbeitet werden. Gehen Sie zurück und versuchen Sie es erneut.
form-expired-title = Seite abgelaufen
form-expired = Diese Seite war zu lange geöffnet oder wurde zweimal abgeschickt. Kehren Sie zur Anwendung zurück und beginnen Sie von vorn.
unavailable-title = Bitte gleich erneut versuchen
unavailable = Der Dienst ist vorübergehend nicht erreichbar. Versuchen Sie es in einem Moment erneut.

## Start page and missing pages

home-title = { $product }
home-intro = Hier melden Sie sich bei { $product } an. Anwendungen leiten Sie hierher, wenn Sie sich anmelden sollen.
home-device = Gerät verbinden
home-sign-out = Abmelden
home-developers = Für Entwickler: OpenID-Connect-Discovery
not-found-title = Seite nicht gefunden
not-found = Unter dieser Adresse gibt es nichts. Prüfen Sie den Link oder gehen Sie zur Startseite.
