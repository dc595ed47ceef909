;;; safecoder.el --- safecoder-lsp code completion through Eglot  -*- lexical-binding: t; -*-

;; Package-Requires: ((emacs "29.1") (eglot "1.15"))
;; Keywords: languages, tools
;; URL: editors/emacs in the safecoder-lsp repository

;;; Commentary:

;; Registers `safecoder-lsp serve --stdio' in `eglot-server-programs' for the
;; major modes in `safecoder-major-modes'.
;;
;; Eglot has no LSP inline completion (no `textDocument/inlineCompletion'
;; client capability, so no ghost text): the server notices and answers
;; `textDocument/completion' instead, and the suggestion shows up through
;; `completion-at-point' (Corfu, Company or the *Completions* buffer) as the
;; first candidate, annotated "safecoder".
;;
;; Eglot runs ONE server per buffer: for the modes listed here safecoder-lsp
;; replaces your usual server (pyright, clangd, ...).  Keep the list to the
;; modes where that is what you want.
;;
;; Usage:
;;   (add-to-list 'load-path "/path/to/safecoder-lsp/editors/emacs")
;;   (require 'safecoder)
;;   (setq safecoder-command '("/path/to/safecoder-lsp/.venv/bin/safecoder-lsp"
;;                             "serve" "--stdio"))
;;   (safecoder-eglot-setup)
;;   ;; then M-x eglot in a Python/Java/... buffer, or add `eglot-ensure' to the mode hook.

;;; Code:

(require 'eglot)
(require 'seq)

(defgroup safecoder nil
  "Local code completion from safecoder-lsp."
  :group 'eglot
  :prefix "safecoder-")

(defcustom safecoder-command '("safecoder-lsp" "serve" "--stdio")
  "Command line that starts the server (program, then arguments)."
  :type '(repeat string))

(defcustom safecoder-major-modes
  '(python-mode python-ts-mode
    java-mode java-ts-mode
    kotlin-mode kotlin-ts-mode
    (js-mode :language-id "javascript") (js-ts-mode :language-id "javascript")
    typescript-mode typescript-ts-mode
    (tsx-ts-mode :language-id "typescriptreact")
    go-mode go-ts-mode
    rust-mode rust-ts-mode
    c-mode c-ts-mode
    (c++-mode :language-id "cpp") (c++-ts-mode :language-id "cpp"))
  "Major modes handed to safecoder-lsp, in `eglot-server-programs' syntax.
An entry is a mode symbol or (MODE :language-id ID) when the mode's name
is not the LSP language id."
  :type '(repeat sexp))

(defcustom safecoder-initialization-options
  '(:safecoder (:completion (:enabled t :multiline "auto" :max_tokens 64)))
  "Sent as `initializationOptions' (plist; the keys of the configuration reference)."
  :type 'sexp)

(defun safecoder--contact ()
  "The `eglot-server-programs' contact for safecoder-lsp."
  (append safecoder-command
          (list :initializationOptions safecoder-initialization-options)))

;;;###autoload
(defun safecoder-eglot-setup ()
  "Put safecoder-lsp first in `eglot-server-programs' for `safecoder-major-modes'."
  (interactive)
  (setq eglot-server-programs
        (cons (cons safecoder-major-modes (safecoder--contact))
              (seq-remove (lambda (entry) (equal (car-safe entry) safecoder-major-modes))
                          eglot-server-programs))))

(provide 'safecoder)
;;; safecoder.el ends here
