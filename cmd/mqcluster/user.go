package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mqcluster/mqcluster/auth"
)

func newUserCommand(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the embedded broker's password file",
	}
	cmd.AddCommand(newUserAddCommand())
	return cmd
}

func newUserAddCommand() *cobra.Command {
	var file, role string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user to a password file, or change its password",
		Long: `Add user NAME to the password file of the embedded broker (mqcluster up
--users FILE), creating the file if needed, or change its password and role.
A node's user name is its node id: the broker lets it use only that node's
topics. The coordinator of another process logs in with --role coordinator.

The password comes from ` + envPassword + ` if set, else from standard input
(its first line), else it is asked for twice on the terminal. The file holds
bcrypt hashes only, and is readable by its owner only.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := auth.ValidateUser(name, role); err != nil {
				return err
			}
			users := auth.NewUsers()
			if _, err := os.Stat(file); err == nil {
				if users, err = auth.LoadUsers(file); err != nil {
					return err
				}
			}
			password, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), name)
			if err != nil {
				return err
			}
			if err := users.Add(name, role, password, auth.HashCost); err != nil {
				return err
			}
			if err := users.Save(file); err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			count := fmt.Sprintf("%d users", users.Len())
			if users.Len() == 1 {
				count = "1 user"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s (%s) saved in %s, which now has %s\n", name, role, file, count)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "users.txt", "password file to write")
	cmd.Flags().StringVar(&role, "role", auth.RoleNode, "role: node or coordinator")
	return cmd
}

// readPassword returns the new password of user name.
func readPassword(in io.Reader, prompt io.Writer, name string) (string, error) {
	if p := os.Getenv(envPassword); p != "" {
		return p, nil
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(prompt, "Password for %s: ", name)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(first) != string(again) {
			return "", errors.New("the two passwords differ; nothing was saved")
		}
		return checkPassword(string(first))
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(p string) (string, error) {
	if len(p) < 8 {
		return "", fmt.Errorf("the password has %d characters; use at least 8", len(p))
	}
	return p, nil
}
