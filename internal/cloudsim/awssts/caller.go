package awssts

import (
	"encoding/xml"
	"net/http"
)

type callerIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Metadata struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

// callerIdentity is GetCallerIdentity: the role session or IAM user that
// signed the request. UserId is the role's ID and session name for a role
// session, the user's ID for a user (IAM's aws:userid principal table).
// Like AWS, it needs no permission.
func (s *Server) callerIdentity(r *http.Request, body []byte) (*callerIdentityResponse, error) {
	signer, err := s.verify(r, body)
	if err != nil {
		return nil, err
	}
	res := &callerIdentityResponse{}
	res.Result.Account = s.account.ID
	if c, ok := s.Lookup(signer.AccessKeyID); ok {
		res.Result.Arn, res.Result.UserID = c.AssumedRoleARN, c.AssumedRoleID
		return res, nil
	}
	u, _ := s.account.User(signer.AccessKeyID)
	res.Result.Arn, res.Result.UserID = s.account.UserARN(u.Name), s.account.UserID(u.Name)
	return res, nil
}
